//! Safe wrappers over the libmemcached calls reel-herd compares against (filled by reel-herd).
