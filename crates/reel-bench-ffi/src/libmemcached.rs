//! Safe wrappers over the libmemcached calls reel-herd compares against: a `memcached_st`
//! configured for ketama distribution, whose key placement can be asked without connecting.

use std::ffi::{CStr, CString, c_char, c_int};
use std::ptr::NonNull;

/// Opaque `memcached_st`.
#[repr(C)]
struct MemcachedSt {
    _private: [u8; 0],
}

/// Opaque `memcached_instance_st`.
#[repr(C)]
struct InstanceSt {
    _private: [u8; 0],
}

// Values of libmemcached 1.x's C enums (libmemcached-1.0/types/*.h).
const MEMCACHED_SUCCESS: c_int = 0;
const MEMCACHED_BEHAVIOR_DISTRIBUTION: c_int = 9;
const MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED: c_int = 16;
const MEMCACHED_BEHAVIOR_KETAMA_HASH: c_int = 17;
const MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA: u64 = 2;
const MEMCACHED_HASH_MD5: u64 = 1;

#[allow(unsafe_code)]
#[link(name = "memcached")]
unsafe extern "C" {
    fn memcached_create(ptr: *mut MemcachedSt) -> *mut MemcachedSt;
    fn memcached_free(ptr: *mut MemcachedSt);
    fn memcached_behavior_set(ptr: *mut MemcachedSt, flag: c_int, data: u64) -> c_int;
    fn memcached_server_add_with_weight(
        ptr: *mut MemcachedSt,
        hostname: *const c_char,
        port: u16,
        weight: u32,
    ) -> c_int;
    fn memcached_server_count(ptr: *const MemcachedSt) -> u32;
    fn memcached_generate_hash(
        ptr: *const MemcachedSt,
        key: *const c_char,
        key_length: usize,
    ) -> u32;
    fn memcached_server_instance_by_position(
        ptr: *const MemcachedSt,
        server_key: u32,
    ) -> *const InstanceSt;
    fn memcached_server_name(instance: *const InstanceSt) -> *const c_char;
    fn memcached_server_port(instance: *const InstanceSt) -> u16;
}

/// A libmemcached handle with ketama distribution and MD5 key hashing. No connection is ever
/// made: servers are only added to the continuum.
#[derive(Debug)]
pub struct KetamaHandle {
    ptr: NonNull<MemcachedSt>,
}

/// A libmemcached call returned something other than `MEMCACHED_SUCCESS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibmemcachedError {
    /// What was being done.
    pub call: &'static str,
    /// The `memcached_return_t` code.
    pub code: i32,
}

impl std::fmt::Display for LibmemcachedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} returned memcached_return_t {}", self.call, self.code)
    }
}

impl std::error::Error for LibmemcachedError {}

impl KetamaHandle {
    /// A handle with `MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED` (weighted: 160 points per server,
    /// scaled by weight) or plain `MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA`, both with
    /// `MEMCACHED_BEHAVIOR_KETAMA_HASH` = MD5.
    pub fn new(weighted: bool) -> Result<Self, LibmemcachedError> {
        // SAFETY: a null argument asks libmemcached to allocate a new handle; it returns null
        // only on allocation failure, which is checked below.
        #[allow(unsafe_code)]
        let raw = unsafe { memcached_create(std::ptr::null_mut()) };
        let ptr = NonNull::new(raw).ok_or(LibmemcachedError {
            call: "memcached_create",
            code: -1,
        })?;
        let handle = Self { ptr };
        handle.behavior(
            MEMCACHED_BEHAVIOR_DISTRIBUTION,
            MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA,
        )?;
        if weighted {
            handle.behavior(MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1)?;
        }
        handle.behavior(MEMCACHED_BEHAVIOR_KETAMA_HASH, MEMCACHED_HASH_MD5)?;
        Ok(handle)
    }

    fn behavior(&self, flag: c_int, value: u64) -> Result<(), LibmemcachedError> {
        // SAFETY: `self.ptr` is a live handle from memcached_create, owned by `self`; the flag
        // and value are valid members of libmemcached's enums.
        #[allow(unsafe_code)]
        let code = unsafe { memcached_behavior_set(self.ptr.as_ptr(), flag, value) };
        check("memcached_behavior_set", code)
    }

    /// Adds a server with a weight (libmemcached reads weight 0 as 1). The host string is
    /// hashed as given.
    pub fn add_server(
        &mut self,
        host: &str,
        port: u16,
        weight: u32,
    ) -> Result<(), LibmemcachedError> {
        let host = CString::new(host).map_err(|_| LibmemcachedError {
            call: "memcached_server_add_with_weight (host contains NUL)",
            code: -1,
        })?;
        // SAFETY: the handle is live and exclusively borrowed; `host` is a NUL-terminated
        // string that outlives the call (libmemcached copies it).
        #[allow(unsafe_code)]
        let code = unsafe {
            memcached_server_add_with_weight(self.ptr.as_ptr(), host.as_ptr(), port, weight)
        };
        check("memcached_server_add_with_weight", code)
    }

    /// Number of servers added.
    pub fn server_count(&self) -> u32 {
        // SAFETY: the handle is live.
        #[allow(unsafe_code)]
        unsafe {
            memcached_server_count(self.ptr.as_ptr())
        }
    }

    /// Index (in the order servers were added) of the server libmemcached picks for `key`, or
    /// `None` when no server was added.
    pub fn server_index(&self, key: &[u8]) -> Option<u32> {
        if self.server_count() == 0 {
            return None;
        }
        // SAFETY: the handle is live and has at least one server; `key` points to
        // `key.len()` readable bytes (libmemcached does not need NUL termination here).
        #[allow(unsafe_code)]
        let index =
            unsafe { memcached_generate_hash(self.ptr.as_ptr(), key.as_ptr().cast(), key.len()) };
        Some(index)
    }

    /// Host and port of the server libmemcached picks for `key`.
    pub fn server_for(&self, key: &[u8]) -> Option<(String, u16)> {
        let index = self.server_index(key)?;
        // SAFETY: `index` came from memcached_generate_hash, so it is below the server count.
        #[allow(unsafe_code)]
        let instance = unsafe { memcached_server_instance_by_position(self.ptr.as_ptr(), index) };
        if instance.is_null() {
            return None;
        }
        // SAFETY: `instance` is a non-null server of this live handle; its name is a
        // NUL-terminated string owned by the handle, copied before we return.
        #[allow(unsafe_code)]
        let (name, port) = unsafe {
            let name = memcached_server_name(instance);
            if name.is_null() {
                return None;
            }
            (
                CStr::from_ptr(name).to_string_lossy().into_owned(),
                memcached_server_port(instance),
            )
        };
        Some((name, port))
    }
}

impl Drop for KetamaHandle {
    fn drop(&mut self) {
        // SAFETY: `self.ptr` came from memcached_create and is freed exactly once, here.
        #[allow(unsafe_code)]
        unsafe {
            memcached_free(self.ptr.as_ptr());
        }
    }
}

fn check(call: &'static str, code: c_int) -> Result<(), LibmemcachedError> {
    if code == MEMCACHED_SUCCESS {
        Ok(())
    } else {
        Err(LibmemcachedError { call, code })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_keys_on_added_servers() {
        let mut handle = KetamaHandle::new(true).unwrap();
        assert_eq!(handle.server_index(b"k"), None);
        handle.add_server("10.0.0.1", 11211, 1).unwrap();
        handle.add_server("10.0.0.2", 11212, 2).unwrap();
        assert_eq!(handle.server_count(), 2);
        let mut seen = [0; 2];
        for i in 0..1000 {
            let index = handle.server_index(format!("key{i}").as_bytes()).unwrap();
            seen[index as usize] += 1;
        }
        assert!(seen[0] > 0 && seen[1] > seen[0], "{seen:?}");
        let (host, port) = handle.server_for(b"key1").unwrap();
        assert!(host.starts_with("10.0.0.") && (port == 11211 || port == 11212));
    }
}
