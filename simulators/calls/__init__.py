"""A dispatch-call participant as a program: joins a call on the hub, sends synthetic video and
a tone, receives the others and measures what arrives (frames, audio level)."""
