"""City command-center hub: cameras, sensors, incidents, dispatch."""

__version__ = "0.1.0"
