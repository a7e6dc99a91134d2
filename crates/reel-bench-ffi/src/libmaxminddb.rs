//! Safe wrappers over the libmaxminddb calls reel-geoip compares against.
//!
//! Debian's `libmaxminddb-dev` (1.7): `MMDB_open` (memory-mapped), `MMDB_lookup_string` and
//! `MMDB_aget_value`. Struct layouts follow `maxminddb.h` on 64-bit Linux (`MMDB_s` is 136
//! bytes, `MMDB_entry_data_s` 48 bytes aligned to 16 for its 128-bit union member); the
//! tests of reel-geoip
//! (`tests/libmaxminddb_reference.rs`) compare its lookups with these.
//!
//! ```no_run
//! use reel_bench_ffi::libmaxminddb::{Mmdb, ValuePath};
//!
//! let db = Mmdb::open("GeoLite2-City.mmdb")?;
//! let country = ValuePath::new(&["country", "iso_code"]);
//! if let Some(entry) = db.lookup("81.2.69.160")? {
//!     println!("{:?} /{}", entry.string(&country), entry.netmask());
//! }
//! # Ok::<(), String>(())
//! ```

use std::ffi::{CStr, CString, c_char, c_int};
use std::fmt;
use std::marker::PhantomData;
use std::path::Path;

const MMDB_SUCCESS: c_int = 0;
const MMDB_MODE_MMAP: u32 = 1;
const MMDB_DATA_TYPE_UTF8_STRING: u32 = 2;
const MMDB_DATA_TYPE_DOUBLE: u32 = 3;
const MMDB_DATA_TYPE_UINT16: u32 = 5;
const MMDB_DATA_TYPE_UINT32: u32 = 6;

/// `MMDB_s`: opaque to us, 136 bytes aligned to 8.
#[repr(C)]
struct MmdbS {
    _opaque: [u64; 17],
}

/// `MMDB_entry_s`.
#[repr(C)]
#[derive(Clone, Copy)]
struct EntryS {
    mmdb: *const MmdbS,
    offset: u32,
}

/// `MMDB_lookup_result_s`.
#[repr(C)]
struct LookupResultS {
    found_entry: bool,
    entry: EntryS,
    netmask: u16,
}

/// The anonymous union of `MMDB_entry_data_s` (16 bytes, aligned to 16 for `mmdb_uint128_t`).
#[repr(C, align(16))]
#[derive(Clone, Copy)]
union Value {
    utf8_string: *const c_char,
    double_value: f64,
    uint16: u16,
    uint32: u32,
    bytes: [u8; 16],
}

/// `MMDB_entry_data_s`.
#[repr(C)]
struct EntryDataS {
    has_data: bool,
    value: Value,
    offset: u32,
    offset_to_next: u32,
    data_size: u32,
    kind: u32,
}

// Declaring foreign functions is itself unsafe code; each call below is justified on its own.
#[allow(unsafe_code)]
#[link(name = "maxminddb")]
unsafe extern "C" {
    fn MMDB_open(filename: *const c_char, flags: u32, mmdb: *mut MmdbS) -> c_int;
    fn MMDB_lookup_string(
        mmdb: *const MmdbS,
        ipstr: *const c_char,
        gai_error: *mut c_int,
        mmdb_error: *mut c_int,
    ) -> LookupResultS;
    fn MMDB_aget_value(
        start: *mut EntryS,
        entry_data: *mut EntryDataS,
        path: *const *const c_char,
    ) -> c_int;
    fn MMDB_close(mmdb: *mut MmdbS);
    fn MMDB_strerror(error_code: c_int) -> *const c_char;
}

fn strerror(code: c_int) -> String {
    #[allow(unsafe_code)]
    // SAFETY: MMDB_strerror returns a pointer to a static NUL-terminated string for any code.
    let message = unsafe { CStr::from_ptr(MMDB_strerror(code)) };
    message.to_string_lossy().into_owned()
}

/// An open database (memory-mapped by libmaxminddb), closed on drop.
pub struct Mmdb {
    // Boxed so its address stays fixed: entries point back to it.
    raw: Box<MmdbS>,
}

impl fmt::Debug for Mmdb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mmdb").finish_non_exhaustive()
    }
}

impl Mmdb {
    /// Opens (memory-maps) a database file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, String> {
        let path = path.as_ref();
        let c_path = CString::new(path.to_string_lossy().as_bytes())
            .map_err(|_| format!("{} contains a NUL byte", path.display()))?;
        let mut raw = Box::new(MmdbS { _opaque: [0; 17] });
        #[allow(unsafe_code)]
        // SAFETY: c_path is a valid NUL-terminated string; raw points to writable memory of
        // the size and alignment of MMDB_s that MMDB_open fills in.
        let status = unsafe { MMDB_open(c_path.as_ptr(), MMDB_MODE_MMAP, &mut *raw) };
        if status != MMDB_SUCCESS {
            return Err(format!(
                "MMDB_open {}: {}",
                path.display(),
                strerror(status)
            ));
        }
        Ok(Self { raw })
    }

    /// Looks up an address given as text; `Ok(None)` when no record covers it.
    pub fn lookup(&self, ip: &str) -> Result<Option<Entry<'_>>, String> {
        let c_ip = CString::new(ip).map_err(|_| "address contains a NUL byte".to_owned())?;
        let mut gai_error: c_int = 0;
        let mut mmdb_error: c_int = 0;
        #[allow(unsafe_code)]
        // SAFETY: self.raw was opened successfully and lives as long as &self; c_ip is a valid
        // C string; the error pointers point to live c_ints.
        let result = unsafe {
            MMDB_lookup_string(&*self.raw, c_ip.as_ptr(), &mut gai_error, &mut mmdb_error)
        };
        if gai_error != 0 {
            return Err(format!(
                "{ip} is not an IP address (getaddrinfo error {gai_error})"
            ));
        }
        if mmdb_error != MMDB_SUCCESS {
            return Err(strerror(mmdb_error));
        }
        Ok(result.found_entry.then_some(Entry {
            raw: result.entry,
            netmask: result.netmask,
            _db: PhantomData,
        }))
    }
}

impl Drop for Mmdb {
    fn drop(&mut self) {
        #[allow(unsafe_code)]
        // SAFETY: raw was opened by MMDB_open (open returns no Mmdb otherwise) and is closed
        // exactly once; entries borrow the Mmdb so none outlive it.
        unsafe {
            MMDB_close(&mut *self.raw)
        };
    }
}

/// A key path into a record (`["city", "names", "en"]`), prepared once for repeated use.
pub struct ValuePath {
    _keys: Vec<CString>,
    pointers: Vec<*const c_char>,
}

impl fmt::Debug for ValuePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self._keys.iter()).finish()
    }
}

impl ValuePath {
    /// Prepares a path; keys containing NUL bytes are cut at the NUL.
    pub fn new(keys: &[&str]) -> Self {
        let keys: Vec<CString> = keys
            .iter()
            .map(|k| CString::new(k.split('\0').next().unwrap_or("")).unwrap_or_default())
            .collect();
        let mut pointers: Vec<*const c_char> = keys.iter().map(|k| k.as_ptr()).collect();
        pointers.push(std::ptr::null());
        Self {
            _keys: keys,
            pointers,
        }
    }
}

/// A record found by [`Mmdb::lookup`], valid while the database is open.
#[derive(Clone, Copy)]
pub struct Entry<'a> {
    raw: EntryS,
    netmask: u16,
    _db: PhantomData<&'a Mmdb>,
}

impl fmt::Debug for Entry<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("offset", &self.raw.offset)
            .field("netmask", &self.netmask)
            .finish()
    }
}

impl<'a> Entry<'a> {
    /// The prefix length of the network (in the IPv6 tree for IPv6 databases: an IPv4
    /// address's /24 is reported as /120).
    pub fn netmask(&self) -> u16 {
        self.netmask
    }

    fn get(&self, path: &ValuePath) -> Option<EntryDataS> {
        let mut start = self.raw;
        let mut data = EntryDataS {
            has_data: false,
            value: Value { bytes: [0; 16] },
            offset: 0,
            offset_to_next: 0,
            data_size: 0,
            kind: 0,
        };
        #[allow(unsafe_code)]
        // SAFETY: start is a copy of an entry of a database that is open for 'a; data is a
        // writable MMDB_entry_data_s; path.pointers is a NULL-terminated array of C strings
        // owned by path.
        let status = unsafe { MMDB_aget_value(&mut start, &mut data, path.pointers.as_ptr()) };
        (status == MMDB_SUCCESS && data.has_data).then_some(data)
    }

    /// A UTF-8 string at `path`, borrowed from the mapped database.
    pub fn string(&self, path: &ValuePath) -> Option<&'a str> {
        let data = self.get(path)?;
        if data.kind != MMDB_DATA_TYPE_UTF8_STRING {
            return None;
        }
        #[allow(unsafe_code)]
        // SAFETY: for a UTF-8 string entry, utf8_string points at data_size bytes inside the
        // mapping, which stays valid while the database is open ('a).
        let bytes = unsafe {
            std::slice::from_raw_parts(data.value.utf8_string.cast::<u8>(), data.data_size as usize)
        };
        std::str::from_utf8(bytes).ok()
    }

    /// A double at `path`.
    pub fn f64(&self, path: &ValuePath) -> Option<f64> {
        let data = self.get(path)?;
        if data.kind != MMDB_DATA_TYPE_DOUBLE {
            return None;
        }
        #[allow(unsafe_code)]
        // SAFETY: the union member read matches the type tag.
        let value = unsafe { data.value.double_value };
        Some(value)
    }

    /// An unsigned 16- or 32-bit integer at `path`.
    pub fn u32(&self, path: &ValuePath) -> Option<u32> {
        let data = self.get(path)?;
        #[allow(unsafe_code)]
        // SAFETY: each union member read matches the type tag.
        let value = unsafe {
            match data.kind {
                MMDB_DATA_TYPE_UINT16 => u32::from(data.value.uint16),
                MMDB_DATA_TYPE_UINT32 => data.value.uint32,
                _ => return None,
            }
        };
        Some(value)
    }
}
