//! [`GeoIp`]: database slots that are replaced atomically, with status and reload events.

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use reel_core::client_ip::IpNet;
use reel_core::{Clock, HotSwap, SharedClock, SystemClock};
use serde::de::DeserializeOwned;
use tokio::sync::broadcast;

use crate::location::{AnonymousIp, Asn, Isp, Locales, Location, RawAnonymousIp, RawAsn, RawCity};
use crate::metrics::SlotMetrics;
use crate::{Database, DatabaseInfo, Error};

/// Which database a slot holds. A [`GeoIp`] has a location slot and an ASN slot, and any
/// number of custom slots.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Slot {
    /// A City, Country or Enterprise database ([`Location`]).
    Location,
    /// An ASN or ISP database ([`Asn`]).
    Asn,
    /// An Anonymous IP database ([`AnonymousIp`]: VPN, hosting, proxy, Tor flags).
    AnonymousIp,
    /// A GeoIP2 ISP database ([`Isp`]: ISP, organisation, autonomous system, mobile codes).
    Isp,
    /// Any other database, read with [`GeoIp::decode`].
    Custom(String),
}

impl Slot {
    /// A custom slot.
    pub fn custom(name: impl Into<String>) -> Self {
        Self::Custom(name.into())
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Location => f.write_str("location"),
            Self::Asn => f.write_str("asn"),
            Self::AnonymousIp => f.write_str("anonymous_ip"),
            Self::Isp => f.write_str("isp"),
            Self::Custom(name) => f.write_str(name),
        }
    }
}

/// What a candidate database must pass before it replaces the current one.
///
/// Every candidate is opened (metadata and search-tree layout), its `database_type` is
/// compared with the accepted types, its first record is decoded as the slot's record type,
/// and each probe address must have data. With `verify` (the default) the whole database is
/// walked first (`maxminddb`'s verifier), which catches corruption deep in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    accepted_types: Vec<String>,
    probes: Vec<IpAddr>,
    verify: bool,
}

impl Check {
    /// Accepts databases whose `database_type` contains one of `types` (case-sensitive);
    /// no types accepts any database.
    pub fn accepting<S: Into<String>>(types: impl IntoIterator<Item = S>) -> Self {
        Self {
            accepted_types: types.into_iter().map(Into::into).collect(),
            probes: Vec::new(),
            verify: true,
        }
    }

    /// Accepts any database type.
    pub fn any() -> Self {
        Self::accepting(Vec::<String>::new())
    }

    /// The default check of a slot: `City`/`Country`/`Enterprise` types for
    /// [`Slot::Location`], `ASN`/`ISP` for [`Slot::Asn`] (an ISP database answers ASN
    /// questions too), `ISP` for [`Slot::Isp`], `Anonymous-IP` for [`Slot::AnonymousIp`],
    /// anything for custom slots.
    pub fn for_slot(slot: &Slot) -> Self {
        match slot {
            Slot::Location => Self::accepting(["City", "Country", "Enterprise"]),
            Slot::Asn => Self::accepting(["ASN", "ISP"]),
            Slot::AnonymousIp => Self::accepting(["Anonymous-IP"]),
            Slot::Isp => Self::accepting(["ISP"]),
            Slot::Custom(_) => Self::any(),
        }
    }

    /// Adds an address that must have data in every accepted database.
    pub fn probe(mut self, ip: IpAddr) -> Self {
        self.probes.push(ip);
        self
    }

    /// Turns the full-database verification on or off (on by default).
    pub fn verify(mut self, verify: bool) -> Self {
        self.verify = verify;
        self
    }

    /// What the check accepts, for error messages.
    #[cfg_attr(not(feature = "download"), allow(dead_code))]
    pub(crate) fn accepted_description(&self) -> String {
        if self.accepted_types.is_empty() {
            "any database".to_owned()
        } else {
            self.accepted_types.join(" | ")
        }
    }

    pub(crate) fn accepts(&self, database_type: &str) -> bool {
        self.accepted_types.is_empty()
            || self
                .accepted_types
                .iter()
                .any(|t| database_type.contains(t.as_str()))
    }
}

/// What happened on a reload attempt.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ReloadOutcome {
    /// A new database replaced the current one.
    Loaded(DatabaseInfo),
    /// The source had nothing new (HTTP 304, file unchanged).
    Unchanged,
    /// The candidate or the source failed; the current database keeps serving. The error is
    /// shared by every receiver.
    Failed(Arc<Error>),
}

/// A reload attempt, sent to [`GeoIp::events`] subscribers.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReloadEvent {
    /// The slot.
    pub slot: Slot,
    /// Where the candidate came from (a path or URL).
    pub source: String,
    /// What happened.
    pub outcome: ReloadOutcome,
}

/// A slot's state, for health endpoints and dashboards.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SlotStatus {
    /// The slot.
    pub slot: Slot,
    /// The database serving now, if any.
    pub database: Option<DatabaseInfo>,
    /// Where the serving database came from.
    pub source: Option<String>,
    /// When the serving database was loaded.
    pub loaded_at: Option<SystemTime>,
    /// When a source last checked for a new database (whatever the outcome).
    pub last_check: Option<SystemTime>,
    /// The last failure, if nothing has succeeded since: a load, or a check that found the
    /// serving database still current (HTTP 304), clears it.
    pub last_error: Option<String>,
    /// When `last_error` happened.
    pub last_error_at: Option<SystemTime>,
    /// Databases loaded into this slot.
    pub reloads: u64,
    /// Reload attempts that failed.
    pub failed_reloads: u64,
    /// Checks that found nothing new.
    pub unchanged_checks: u64,
}

struct SlotState {
    slot: Slot,
    check: Check,
    current: HotSwap<Option<Arc<Database>>>,
    status: Mutex<SlotStatus>,
    reloads: AtomicU64,
    failed: AtomicU64,
    unchanged: AtomicU64,
    /// Serialises replacements so the status always describes the serving database.
    replacing: Mutex<()>,
    /// Metric handles, built once (nothing without the `metrics` feature).
    metrics: SlotMetrics,
}

struct Inner {
    slots: Vec<SlotState>,
    locales: Locales,
    clock: SharedClock,
    events: broadcast::Sender<ReloadEvent>,
}

/// Live-reloadable MaxMind databases behind cheap, synchronous lookups.
///
/// Clones share the same databases. Each slot holds one database in a
/// [`reel_core::HotSwap`]: a replacement is checked first ([`Check`]), then swapped in
/// atomically; a lookup that started on the old database finishes on it, and the old
/// database is freed when its last lookup ends. A failed replacement leaves the current
/// database serving and is reported in [`status`](Self::status) and
/// [`events`](Self::events).
///
/// ```
/// use reel_geoip::{GeoIp, Slot};
/// use reel_geoip::testdata::{AsnDatabase, CityDatabase, SAMPLE_V4};
///
/// let geoip = GeoIp::builder().locales(["de", "en"]).build();
/// geoip.replace(&Slot::Location, CityDatabase::new().build()?, "demo")?;
/// geoip.replace(&Slot::Asn, AsnDatabase::new().build()?, "demo")?;
///
/// let found = geoip.lookup(SAMPLE_V4.parse()?)?;
/// let location = found.location.expect("London is in the database");
/// assert_eq!(location.country.unwrap().name.as_deref(), Some("Vereinigtes Königreich"));
/// assert_eq!(found.asn.unwrap().number, Some(64496));
///
/// // A broken candidate is refused and the current database keeps serving.
/// assert!(geoip.replace(&Slot::Location, b"garbage".to_vec(), "demo").is_err());
/// assert!(geoip.location(SAMPLE_V4.parse()?)?.is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct GeoIp {
    inner: Arc<Inner>,
}

impl fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for state in &self.inner.slots {
            list.entry(&(
                &state.slot,
                state.current.load().as_deref().map(Database::info),
            ));
        }
        list.finish()
    }
}

/// Builds a [`GeoIp`].
#[derive(Debug)]
pub struct GeoIpBuilder {
    locales: Locales,
    checks: Vec<(Slot, Check)>,
    clock: Option<SharedClock>,
}

impl GeoIpBuilder {
    /// Sets the name languages, most preferred first (default `en`).
    pub fn locales<S: Into<String>>(mut self, locales: impl IntoIterator<Item = S>) -> Self {
        self.locales = Locales::new(locales);
        self
    }

    /// Replaces the check of a built-in slot, or adds a custom slot with its check.
    pub fn slot(mut self, slot: Slot, check: Check) -> Self {
        if let Some(entry) = self.checks.iter_mut().find(|(s, _)| *s == slot) {
            entry.1 = check;
        } else {
            self.checks.push((slot, check));
        }
        self
    }

    /// Adds a custom slot accepting databases whose type contains `database_type`.
    pub fn custom_slot(self, name: impl Into<String>, database_type: impl Into<String>) -> Self {
        self.slot(
            Slot::Custom(name.into()),
            Check::accepting([database_type.into()]),
        )
    }

    /// Sets the clock used for `loaded_at` and `last_check` (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Builds the service, every slot empty. Locale tags that match no MaxMind language are
    /// reported with a warning (see [`Locales`]).
    pub fn build(self) -> GeoIp {
        let unknown = self.locales.unknown();
        if !unknown.is_empty() {
            tracing::warn!(?unknown, reading = ?self.locales.languages(),
                "locales match no MaxMind language (de en es fr ja pt-BR ru zh-CN)");
        }
        let (events, _) = broadcast::channel(64);
        let slots = self
            .checks
            .into_iter()
            .map(|(slot, check)| SlotState {
                status: Mutex::new(SlotStatus {
                    slot: slot.clone(),
                    database: None,
                    source: None,
                    loaded_at: None,
                    last_check: None,
                    last_error: None,
                    last_error_at: None,
                    reloads: 0,
                    failed_reloads: 0,
                    unchanged_checks: 0,
                }),
                metrics: SlotMetrics::new(&slot),
                slot,
                check,
                current: HotSwap::new(None),
                reloads: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                unchanged: AtomicU64::new(0),
                replacing: Mutex::new(()),
            })
            .collect();
        GeoIp {
            inner: Arc::new(Inner {
                slots,
                locales: self.locales,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                events,
            }),
        }
    }
}

/// The result of [`GeoIp::lookup`]: location and ASN of one address.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct GeoLookup {
    /// The address looked up (IPv4-mapped IPv6 shown as IPv4).
    pub ip: IpAddr,
    /// From the location slot; `None` if no record covers the address or no database is loaded.
    pub location: Option<Location>,
    /// From the ASN slot; `None` if no record covers the address or no database is loaded.
    pub asn: Option<Asn>,
    /// From the Anonymous IP slot; `None` if no record covers the address or no database is
    /// loaded.
    pub anonymous_ip: Option<AnonymousIp>,
    /// From the ISP slot; `None` if no record covers the address or no database is loaded.
    pub isp: Option<Isp>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the status lock cannot leave it half-updated in a harmful way.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl GeoIp {
    /// A builder with the location, ASN, Anonymous IP and ISP slots and their default checks.
    pub fn builder() -> GeoIpBuilder {
        GeoIpBuilder {
            locales: Locales::default(),
            checks: vec![
                (Slot::Location, Check::for_slot(&Slot::Location)),
                (Slot::Asn, Check::for_slot(&Slot::Asn)),
                (Slot::AnonymousIp, Check::for_slot(&Slot::AnonymousIp)),
                (Slot::Isp, Check::for_slot(&Slot::Isp)),
            ],
            clock: None,
        }
    }

    /// A service with the location and ASN slots, English names and default checks.
    pub fn new() -> Self {
        Self::builder().build()
    }

    fn state(&self, slot: &Slot) -> Result<&SlotState, Error> {
        self.inner
            .slots
            .iter()
            .find(|s| s.slot == *slot)
            .ok_or_else(|| Error::UnknownSlot(slot.to_string()))
    }

    /// The name languages.
    pub fn locales(&self) -> &Locales {
        &self.inner.locales
    }

    /// The slots of this service.
    pub fn slots(&self) -> Vec<Slot> {
        self.inner.slots.iter().map(|s| s.slot.clone()).collect()
    }

    /// Opens `bytes`, checks it against the slot's [`Check`] and, if it passes, makes it the
    /// slot's database. `source` names where it came from (a path or URL) in status and events.
    ///
    /// On failure the current database keeps serving; the error is returned, recorded in the
    /// status and sent as an event. The work (opening, verifying) is synchronous and takes
    /// time proportional to the database size: call it from a blocking thread in async code.
    pub fn replace(
        &self,
        slot: &Slot,
        bytes: Vec<u8>,
        source: &str,
    ) -> Result<DatabaseInfo, Error> {
        let state = self.state(slot)?;
        let _replacing = lock(&state.replacing);
        match open_checked(state, bytes) {
            Ok(database) => {
                let info = database.info().clone();
                let old = state.current.swap(Some(Arc::new(database)));
                drop(old); // freed now unless a lookup still holds it
                let now = self.inner.clock.system_time();
                let reloads = state.reloads.fetch_add(1, Ordering::Relaxed) + 1;
                {
                    let mut status = lock(&state.status);
                    status.database = Some(info.clone());
                    status.source = Some(source.to_owned());
                    status.loaded_at = Some(now);
                    status.last_check = Some(now);
                    status.last_error = None;
                    status.last_error_at = None;
                    status.reloads = reloads;
                }
                state.metrics.reload(true);
                state.metrics.database(Some(&info), now);
                tracing::info!(slot = %slot, source, database_type = %info.database_type,
                    size_bytes = info.size_bytes, "geoip database loaded");
                self.send(slot, source, ReloadOutcome::Loaded(info.clone()));
                Ok(info)
            }
            Err(error) => {
                self.report_failure(slot, source, &error);
                Err(error)
            }
        }
    }

    /// Records a failed reload attempt that did not reach [`replace`](Self::replace) (a
    /// download that failed, a file that could not be read). Sources call this.
    pub fn report_failure(&self, slot: &Slot, source: &str, error: &Error) {
        let Ok(state) = self.state(slot) else { return };
        let failed = state.failed.fetch_add(1, Ordering::Relaxed) + 1;
        let now = self.inner.clock.system_time();
        {
            let mut status = lock(&state.status);
            status.last_check = Some(now);
            status.last_error = Some(error.to_string());
            status.last_error_at = Some(now);
            status.failed_reloads = failed;
            state.metrics.reload(false);
            state.metrics.database(status.database.as_ref(), now);
        }
        if state.current.load().is_some() {
            tracing::warn!(slot = %slot, source, %error, "geoip reload failed; the current database keeps serving");
        } else {
            tracing::warn!(slot = %slot, source, %error, "geoip load failed; the slot has no database yet, so its lookups find nothing until a load succeeds");
        }
        self.send(
            slot,
            source,
            ReloadOutcome::Failed(Arc::new(error.duplicate())),
        );
    }

    /// Records a check that found the serving database still current (HTTP 304 for the
    /// validators of the database that is serving). It clears `last_error`: the source
    /// answers again and nothing newer is waiting.
    pub fn report_unchanged(&self, slot: &Slot, source: &str) {
        let Ok(state) = self.state(slot) else { return };
        let unchanged = state.unchanged.fetch_add(1, Ordering::Relaxed) + 1;
        {
            let mut status = lock(&state.status);
            let now = self.inner.clock.system_time();
            state.metrics.database(status.database.as_ref(), now);
            status.last_check = Some(now);
            status.last_error = None;
            status.last_error_at = None;
            status.unchanged_checks = unchanged;
        }
        tracing::debug!(slot = %slot, source, "geoip database unchanged");
        self.send(slot, source, ReloadOutcome::Unchanged);
    }

    fn send(&self, slot: &Slot, source: &str, outcome: ReloadOutcome) {
        // No subscriber is fine: events are optional.
        let _ = self.inner.events.send(ReloadEvent {
            slot: slot.clone(),
            source: source.to_owned(),
            outcome,
        });
    }

    /// Subscribes to reload events (loads, unchanged checks, failures). A slow subscriber
    /// misses old events rather than slowing reloads down.
    pub fn events(&self) -> broadcast::Receiver<ReloadEvent> {
        self.inner.events.subscribe()
    }

    /// The slot's status. With the `metrics` feature this also refreshes the slot's
    /// `reel_geoip_database_age_seconds` gauge.
    pub fn status(&self, slot: &Slot) -> Result<SlotStatus, Error> {
        let state = self.state(slot)?;
        let status = lock(&state.status).clone();
        state
            .metrics
            .database(status.database.as_ref(), self.inner.clock.system_time());
        Ok(status)
    }

    /// Sets every slot's `reel_geoip_database_age_seconds` gauge to the serving database's
    /// age now (feature `metrics`; without it this does nothing). Loads and checks refresh
    /// the gauge too, but between checks (12 hours by default) it stands still: call this
    /// before each scrape, or from a timer, for an age that moves.
    pub fn refresh_metrics(&self) {
        let now = self.inner.clock.system_time();
        for state in &self.inner.slots {
            let status = lock(&state.status);
            state.metrics.database(status.database.as_ref(), now);
        }
    }

    /// Whether the slot has a database.
    pub fn is_loaded(&self, slot: &Slot) -> bool {
        self.state(slot)
            .map(|s| s.current.load().is_some())
            .unwrap_or(false)
    }

    /// The slot's current database, kept alive as long as the `Arc` is held.
    pub fn database(&self, slot: &Slot) -> Result<Option<Arc<Database>>, Error> {
        Ok(self.state(slot)?.current.load_full().as_ref().clone())
    }

    /// How many times the slot's database has been replaced.
    pub fn version(&self, slot: &Slot) -> Result<u64, Error> {
        Ok(self.state(slot)?.current.version())
    }

    /// The location of `ip` from the location slot; `Ok(None)` if not covered or not loaded.
    pub fn location(&self, ip: IpAddr) -> Result<Option<Location>, Error> {
        self.location_in(ip, &self.inner.locales)
    }

    /// [`location`](Self::location) with names in `locales` for this lookup only (e.g. from
    /// a request's `Accept-Language`) instead of the service's.
    ///
    /// ```
    /// use reel_geoip::{GeoIp, Locales, Slot};
    /// use reel_geoip::testdata::{CityDatabase, SAMPLE_V4};
    ///
    /// let geoip = GeoIp::new();
    /// geoip.replace(&Slot::Location, CityDatabase::new().build()?, "demo")?;
    /// let french = Locales::new(["fr-CH", "en"]);
    /// let london = geoip.location_in(SAMPLE_V4.parse()?, &french)?.unwrap();
    /// assert_eq!(london.country.unwrap().name.as_deref(), Some("Royaume-Uni"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn location_in(&self, ip: IpAddr, locales: &Locales) -> Result<Option<Location>, Error> {
        let state = &self.inner.slots[0];
        let current = state.current.load();
        let found = match current.as_deref() {
            Some(db) => db.location(ip, locales),
            None => Ok(None),
        };
        state.metrics.lookup(&found);
        found
    }

    /// The autonomous system of `ip` from the ASN slot; `Ok(None)` if not covered or not loaded.
    pub fn asn(&self, ip: IpAddr) -> Result<Option<Asn>, Error> {
        let state = &self.inner.slots[1];
        let current = state.current.load();
        let found = match current.as_deref() {
            Some(db) => db
                .decode::<RawAsn<'_>>(ip)
                .map(|found| found.map(|(raw, net)| raw.into_asn(net))),
            None => Ok(None),
        };
        state.metrics.lookup(&found);
        found
    }

    /// The anonymity flags of `ip` from the Anonymous IP slot; `Ok(None)` if not covered or
    /// not loaded.
    pub fn anonymous_ip(&self, ip: IpAddr) -> Result<Option<AnonymousIp>, Error> {
        let state = &self.inner.slots[2];
        let current = state.current.load();
        let found = match current.as_deref() {
            Some(db) => db
                .decode::<RawAnonymousIp>(ip)
                .map(|found| found.map(|(raw, net)| raw.into_anonymous_ip(net))),
            None => Ok(None),
        };
        state.metrics.lookup(&found);
        found
    }

    /// The network operator of `ip` from the ISP slot; `Ok(None)` if not covered or not
    /// loaded.
    pub fn isp(&self, ip: IpAddr) -> Result<Option<Isp>, Error> {
        let state = &self.inner.slots[3];
        let current = state.current.load();
        let found = match current.as_deref() {
            Some(db) => db
                .decode::<RawAsn<'_>>(ip)
                .map(|found| found.map(|(raw, net)| raw.into_isp(net))),
            None => Ok(None),
        };
        state.metrics.lookup(&found);
        found
    }

    /// The slot's [`Check`].
    #[cfg_attr(not(feature = "download"), allow(dead_code))]
    pub(crate) fn check(&self, slot: &Slot) -> Result<&Check, Error> {
        Ok(&self.state(slot)?.check)
    }

    /// Location, ASN, anonymity flags and ISP of `ip` in one call.
    pub fn lookup(&self, ip: IpAddr) -> Result<GeoLookup, Error> {
        Ok(GeoLookup {
            ip: ip.to_canonical(),
            location: self.location(ip)?,
            asn: self.asn(ip)?,
            anonymous_ip: self.anonymous_ip(ip)?,
            isp: self.isp(ip)?,
        })
    }

    /// Runs `read` with the slot's current database (`None` if the slot is empty).
    ///
    /// This is raw typed decoding for custom databases and fields [`Location`] does not
    /// cover: [`Database::decode`] can decode into types that borrow from the database
    /// (`&str` fields, `maxminddb::geoip2` structs), which stay valid for the duration of
    /// `read`. Keep `read` short: it holds the database even if a reload replaces it.
    ///
    /// ```
    /// use reel_geoip::{GeoIp, Slot};
    /// use reel_geoip::testdata::{custom_database, RecordValue};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Office<'a> { team: &'a str, floor: u32 }
    ///
    /// let geoip = GeoIp::builder().custom_slot("offices", "Office-Map").build();
    /// let db = custom_database("Office-Map", &[(
    ///     "10.1.0.0/16",
    ///     RecordValue::map([("team", RecordValue::from("video")), ("floor", RecordValue::from(3u32))]),
    /// )])?;
    /// geoip.replace(&Slot::custom("offices"), db, "inline")?;
    ///
    /// let office = geoip.with_database(&Slot::custom("offices"), |db| {
    ///     let Some(db) = db else { return Ok(None) };
    ///     let record = db.decode::<Office<'_>>("10.1.2.3".parse().unwrap())?;
    ///     Ok::<_, reel_geoip::Error>(record.map(|(o, _network)| format!("{} on floor {}", o.team, o.floor)))
    /// })??;
    /// assert_eq!(office.as_deref(), Some("video on floor 3"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_database<R>(
        &self,
        slot: &Slot,
        read: impl FnOnce(Option<&Database>) -> R,
    ) -> Result<R, Error> {
        let state = self.state(slot)?;
        let current = state.current.load();
        Ok(read(current.as_deref()))
    }

    /// Decodes the record for `ip` in `slot` as an owned `T`, with the network that
    /// contains it; `Ok(None)` when no record covers the address or the slot is empty.
    pub fn decode<T: DeserializeOwned>(
        &self,
        slot: &Slot,
        ip: IpAddr,
    ) -> Result<Option<(T, Option<IpNet>)>, Error> {
        let state = self.state(slot)?;
        let current = state.current.load();
        let found = match current.as_deref() {
            Some(db) => db.decode::<T>(ip),
            None => Ok(None),
        };
        state.metrics.lookup(&found);
        found
    }
}

impl Default for GeoIp {
    fn default() -> Self {
        Self::new()
    }
}

fn open_checked(state: &SlotState, bytes: Vec<u8>) -> Result<Database, Error> {
    let database = Database::from_bytes(bytes)?;
    let database_type = &database.info().database_type;
    if !state.check.accepts(database_type) {
        return Err(Error::WrongDatabaseType {
            slot: state.slot.to_string(),
            found: database_type.clone(),
            expected: state.check.accepted_types.join(" | "),
        });
    }
    if state.check.verify {
        database.verify()?;
    }
    match state.slot {
        Slot::Location => database.probe_first::<RawCity<'_>>()?,
        Slot::Asn | Slot::Isp => database.probe_first::<RawAsn<'_>>()?,
        Slot::AnonymousIp => database.probe_first::<RawAnonymousIp>()?,
        Slot::Custom(_) => database.probe_first::<serde::de::IgnoredAny>()?,
    }
    for &ip in &state.check.probes {
        let found = match state.slot {
            Slot::Location => database.decode::<RawCity<'_>>(ip)?.is_some(),
            Slot::Asn | Slot::Isp => database.decode::<RawAsn<'_>>(ip)?.is_some(),
            Slot::AnonymousIp => database.decode::<RawAnonymousIp>(ip)?.is_some(),
            Slot::Custom(_) => database.decode::<serde::de::IgnoredAny>(ip)?.is_some(),
        };
        if !found {
            return Err(Error::ProbeFailed {
                ip,
                reason: "no record for the probe address".to_owned(),
            });
        }
    }
    Ok(database)
}
