"""Geography of the site: distances and bearings on the earth, which grid holds a point, and which
cameras see a point. Pure functions and indexes over the site file; no I/O."""
