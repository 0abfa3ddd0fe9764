"""Moving cameras (drones, camera vehicles): their telemetry, live position and track.

Their video is a camera source like any other (``hub.video.whip``); this part keeps where they
are. Telemetry arrives on the WHIP session's data channel, is validated (``telemetry``),
stored as the unit's track (``repo``) and announced on ``UNIT_POSITIONS`` for the wall's map.
"""
