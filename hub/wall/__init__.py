"""The video wall's saved state on the hub: layouts (预案) and tours (轮巡)."""
