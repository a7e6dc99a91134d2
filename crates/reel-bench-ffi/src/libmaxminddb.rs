//! Safe wrappers over the libmaxminddb calls reel-geoip compares against (filled by reel-geoip).
