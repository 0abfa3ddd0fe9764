"""Simulated drones and camera vehicles: they fly a path over the district and publish their
video to the hub over WHIP (RFC 9725), with telemetry on a data channel, as a real unit would."""
