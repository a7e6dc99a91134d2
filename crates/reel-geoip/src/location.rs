//! Typed lookup results: [`Location`], [`Asn`] and the locale list that picks names.

use std::fmt;

use reel_core::client_ip::IpNet;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// Preferred languages for place names, most preferred first.
///
/// MaxMind databases carry names in eight languages (`de`, `en`, `es`, `fr`, `ja`,
/// `pt-BR`, `ru`, `zh-CN`), not every name in every language. A name is taken in the first
/// language of the list the record has; if it has none of them the name is `None`. Names in
/// other languages are not read (no MaxMind database has them); a custom database with
/// other languages can be read through [`Database::decode`](crate::Database::decode).
///
/// Tags are matched case-insensitively (`_` taken as `-`); a tag that is not one of the eight
/// falls back to the MaxMind language with the same primary language: `en-US` and `en_GB`
/// read `en`, `pt` and `pt-PT` read `pt-BR`, `zh` and `zh-TW` read `zh-CN` (MaxMind has
/// only Simplified Chinese). A list in which no tag matches any MaxMind language reads
/// English and says so in [`unknown`](Self::unknown) and a warning when a
/// [`GeoIp`](crate::GeoIp) is built.
///
/// ```
/// use reel_geoip::Locales;
///
/// let locales = Locales::new(["de", "en"]);
/// assert_eq!(locales.as_slice(), ["de", "en"]);
/// assert_eq!(Locales::default().as_slice(), ["en"]);
/// assert_eq!(Locales::new(["en-US"]).languages(), ["en"]);
/// assert_eq!(Locales::new(["pt-PT", "fr_CA", "xx"]).languages(), ["pt-BR", "fr"]);
/// assert_eq!(Locales::new(["xx"]).unknown(), ["xx"]);
/// assert_eq!(Locales::new(["xx"]).languages(), ["en"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locales {
    names: Vec<String>,
    /// Each known language of `names`, as its index in [`LANGUAGES`], in order.
    slots: Vec<usize>,
}

impl Default for Locales {
    fn default() -> Self {
        Self::new(["en"])
    }
}

impl Locales {
    /// A fallback list, most preferred first.
    pub fn new<S: Into<String>>(locales: impl IntoIterator<Item = S>) -> Self {
        let names: Vec<String> = locales.into_iter().map(Into::into).collect();
        let mut slots: Vec<usize> = Vec::new();
        for slot in names.iter().filter_map(|name| resolve_language(name)) {
            if !slots.contains(&slot) {
                slots.push(slot);
            }
        }
        if slots.is_empty() {
            slots.push(ENGLISH);
        }
        Self { names, slots }
    }

    /// The languages as given, most preferred first.
    pub fn as_slice(&self) -> &[String] {
        &self.names
    }

    /// The MaxMind languages names are read in, most preferred first, after fallbacks.
    pub fn languages(&self) -> Vec<&'static str> {
        self.slots.iter().map(|&slot| LANGUAGES[slot]).collect()
    }

    /// The given tags that match no MaxMind language, even by primary language.
    pub fn unknown(&self) -> Vec<&str> {
        self.names
            .iter()
            .filter(|name| resolve_language(name).is_none())
            .map(String::as_str)
            .collect()
    }

    fn pick<'a>(&self, names: &Names<'a>) -> Option<&'a str> {
        self.slots.iter().find_map(|&slot| names.0[slot])
    }
}

impl std::str::FromStr for Locales {
    type Err = std::convert::Infallible;

    /// A comma-separated list such as `pt-BR,es,en`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(
            text.split(',').map(str::trim).filter(|s| !s.is_empty()),
        ))
    }
}

/// A continent, country, subdivision or city.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Place {
    /// GeoNames id.
    pub geoname_id: Option<u32>,
    /// ISO code: ISO 3166-1 alpha-2 for countries, the ISO 3166-2 subdivision part
    /// (`ENG`, `CA`), the two-letter continent code (`EU`); `None` for cities.
    pub iso_code: Option<String>,
    /// The name in the first available language of the [`Locales`].
    pub name: Option<String>,
}

/// A country: a [`Place`] that may belong to the European Union.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Country {
    /// GeoNames id.
    pub geoname_id: Option<u32>,
    /// ISO 3166-1 alpha-2 code.
    pub iso_code: Option<String>,
    /// The name in the first available language of the [`Locales`].
    pub name: Option<String>,
    /// Whether the country is a member of the European Union.
    pub is_in_european_union: bool,
}

/// A country represented by people in another one, such as military bases abroad.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RepresentedCountry {
    /// GeoNames id.
    pub geoname_id: Option<u32>,
    /// ISO 3166-1 alpha-2 code.
    pub iso_code: Option<String>,
    /// The name in the first available language of the [`Locales`].
    pub name: Option<String>,
    /// Whether the country is a member of the European Union.
    pub is_in_european_union: bool,
    /// What kind of representation (`military`).
    pub kind: Option<String>,
}

/// Flags and network facts of a City, Country or Enterprise record. GeoLite2 has
/// `is_anonymous_proxy`, `is_satellite_provider` and `is_anycast`; GeoIP2 Enterprise and
/// Insights have the rest. Absent flags are `false`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Traits {
    /// Any anonymizer (Enterprise).
    pub is_anonymous: bool,
    /// An anonymous proxy (deprecated by MaxMind, still in GeoLite2).
    pub is_anonymous_proxy: bool,
    /// A VPN provider (Enterprise).
    pub is_anonymous_vpn: bool,
    /// An anycast network.
    pub is_anycast: bool,
    /// A hosting provider (Enterprise).
    pub is_hosting_provider: bool,
    /// A corporate proxy or VPN (Enterprise).
    pub is_legitimate_proxy: bool,
    /// A public proxy (Enterprise).
    pub is_public_proxy: bool,
    /// A residential proxy (Enterprise).
    pub is_residential_proxy: bool,
    /// A satellite provider.
    pub is_satellite_provider: bool,
    /// A Tor exit node (Enterprise).
    pub is_tor_exit_node: bool,
    /// The user type (`residential`, `business`, `cellular` ...; Enterprise).
    pub user_type: Option<String>,
    /// The connection type (`Cable/DSL`, `Cellular` ...; Enterprise).
    pub connection_type: Option<String>,
}

/// Where an address is, from a City or Country database.
///
/// Every part is optional: a Country database has no city, many records have no postal
/// code, and some networks are known only to the continent.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Location {
    /// The database network that contains the address.
    #[serde(serialize_with = "serialize_network")]
    pub network: Option<IpNet>,
    /// Continent (code in `iso_code`).
    pub continent: Option<Place>,
    /// The country the address is in.
    pub country: Option<Country>,
    /// The country the network is registered to (may differ, e.g. for mobile networks).
    pub registered_country: Option<Country>,
    /// The country represented by the users of the address (military bases abroad).
    pub represented_country: Option<RepresentedCountry>,
    /// Subdivisions, largest first (e.g. England, then a county).
    pub subdivisions: Vec<Place>,
    /// The city.
    pub city: Option<Place>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// Latitude in degrees.
    pub latitude: Option<f64>,
    /// Longitude in degrees.
    pub longitude: Option<f64>,
    /// Radius in kilometres around the coordinates where the address likely is.
    pub accuracy_radius: Option<u16>,
    /// IANA time zone, e.g. `Europe/London`.
    pub time_zone: Option<String>,
    /// US metro (DMA) code.
    pub metro_code: Option<u16>,
    /// Anonymizer, proxy and network flags.
    pub traits: Traits,
}

/// The autonomous system an address belongs to, from an ASN or ISP database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Asn {
    /// The database network that contains the address.
    #[serde(serialize_with = "serialize_network")]
    pub network: Option<IpNet>,
    /// Autonomous system number.
    pub number: Option<u32>,
    /// The organisation that operates it.
    pub organization: Option<String>,
    /// The ISP (ISP databases only).
    pub isp: Option<String>,
    /// The organisation the network is assigned to (ISP databases only).
    pub network_organization: Option<String>,
    /// Mobile country code (ISP databases only, mobile networks).
    pub mobile_country_code: Option<String>,
    /// Mobile network code (ISP databases only, mobile networks).
    pub mobile_network_code: Option<String>,
}

/// The network operator of an address, from a GeoIP2 ISP database (the [`Slot::Isp`]
/// slot): the ISP, the organisation the network is assigned to, its autonomous system and,
/// for mobile networks, the mobile country and network codes.
///
/// [`Slot::Isp`]: crate::Slot::Isp
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Isp {
    /// The database network that contains the address.
    #[serde(serialize_with = "serialize_network")]
    pub network: Option<IpNet>,
    /// The Internet service provider.
    pub isp: Option<String>,
    /// The organisation the network is assigned to.
    pub organization: Option<String>,
    /// Autonomous system number.
    pub autonomous_system_number: Option<u32>,
    /// The organisation that operates the autonomous system.
    pub autonomous_system_organization: Option<String>,
    /// Mobile country code (MCC), for mobile networks.
    pub mobile_country_code: Option<String>,
    /// Mobile network code (MNC), for mobile networks.
    pub mobile_network_code: Option<String>,
}

/// Whether an address is known to hide its user, from a GeoIP2 Anonymous IP database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AnonymousIp {
    /// The database network that contains the address.
    #[serde(serialize_with = "serialize_network")]
    pub network: Option<IpNet>,
    /// Any of the flags below.
    pub is_anonymous: bool,
    /// A VPN provider's address.
    pub is_anonymous_vpn: bool,
    /// A hosting or VPN provider's address.
    pub is_hosting_provider: bool,
    /// A public proxy.
    pub is_public_proxy: bool,
    /// A proxy on a residential network (suspected).
    pub is_residential_proxy: bool,
    /// A Tor exit node.
    pub is_tor_exit_node: bool,
}

fn serialize_network<S: serde::Serializer>(
    network: &Option<IpNet>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match network {
        Some(net) => serializer.collect_str(net),
        None => serializer.serialize_none(),
    }
}

// ---- borrowed decoding structs -------------------------------------------------------------

/// The languages of GeoIP2/GeoLite2 names, in the order of [`Names`]' slots.
const LANGUAGES: [&str; 8] = ["de", "en", "es", "fr", "ja", "pt-BR", "ru", "zh-CN"];

const ENGLISH: usize = 1;

fn language_slot(code: &[u8]) -> Option<usize> {
    LANGUAGES.iter().position(|l| l.as_bytes() == code)
}

/// The MaxMind language of a tag: exact (case-insensitive, `_` as `-`), else by primary
/// language (`en-US` → `en`, `pt` → `pt-BR`).
fn resolve_language(tag: &str) -> Option<usize> {
    let tag = tag.trim().replace('_', "-");
    if let Some(slot) = LANGUAGES.iter().position(|l| l.eq_ignore_ascii_case(&tag)) {
        return Some(slot);
    }
    let primary = tag.split('-').next().unwrap_or("");
    if primary.is_empty() {
        return None;
    }
    LANGUAGES.iter().position(|l| {
        l.split('-')
            .next()
            .is_some_and(|p| p.eq_ignore_ascii_case(primary))
    })
}

/// The names of a place, borrowed from the database, one slot per language of
/// [`LANGUAGES`]: no allocation, and small enough that moving a decoded record is cheap.
/// Keys are read as raw identifiers (no UTF-8 check); names in other languages are skipped.
#[derive(Default)]
pub(crate) struct Names<'a>([Option<&'a str>; LANGUAGES.len()]);

/// A map key as the database stores it, compared byte for byte.
struct Key<'a>(&'a [u8]);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for KeyVisitor<'a> {
            type Value = Key<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a language code")
            }
            fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Key<'a>, E> {
                Ok(Key(v))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'a>, E> {
                Ok(Key(v.as_bytes()))
            }
        }
        deserializer.deserialize_identifier(KeyVisitor(std::marker::PhantomData))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Names<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NamesVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for NamesVisitor<'a> {
            type Value = Names<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of language codes to names")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Names<'a>, M::Error> {
                let mut names = Names::default();
                while let Some(Key(lang)) = map.next_key::<Key<'de>>()? {
                    match language_slot(lang) {
                        Some(slot) => names.0[slot] = Some(map.next_value::<&'de str>()?),
                        None => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(names)
            }
        }
        deserializer.deserialize_map(NamesVisitor(std::marker::PhantomData))
    }
}

#[derive(Deserialize, Default)]
pub(crate) struct RawPlace<'a> {
    #[serde(default)]
    geoname_id: Option<u32>,
    #[serde(default, borrow)]
    iso_code: Option<&'a str>,
    #[serde(default, borrow)]
    code: Option<&'a str>,
    #[serde(default, borrow)]
    names: Names<'a>,
    #[serde(default)]
    is_in_european_union: Option<bool>,
    #[serde(default, borrow, rename = "type")]
    kind: Option<&'a str>,
}

#[derive(Deserialize, Default)]
pub(crate) struct RawLocation<'a> {
    #[serde(default)]
    accuracy_radius: Option<u16>,
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
    #[serde(default, borrow)]
    time_zone: Option<&'a str>,
    #[serde(default)]
    metro_code: Option<u16>,
}

#[derive(Deserialize, Default)]
pub(crate) struct RawTraits<'a> {
    #[serde(default)]
    is_anonymous: bool,
    #[serde(default)]
    is_anonymous_proxy: bool,
    #[serde(default)]
    is_anonymous_vpn: bool,
    #[serde(default)]
    is_anycast: bool,
    #[serde(default)]
    is_hosting_provider: bool,
    #[serde(default)]
    is_legitimate_proxy: bool,
    #[serde(default)]
    is_public_proxy: bool,
    #[serde(default)]
    is_residential_proxy: bool,
    #[serde(default)]
    is_satellite_provider: bool,
    #[serde(default)]
    is_tor_exit_node: bool,
    #[serde(default, borrow)]
    user_type: Option<&'a str>,
    #[serde(default, borrow)]
    connection_type: Option<&'a str>,
}

#[derive(Deserialize, Default)]
pub(crate) struct RawPostal<'a> {
    #[serde(default, borrow)]
    code: Option<&'a str>,
}

/// The fields of a GeoIP2 City/Country/Enterprise record that [`Location`] uses.
#[derive(Deserialize, Default)]
pub(crate) struct RawCity<'a> {
    #[serde(default, borrow)]
    city: Option<RawPlace<'a>>,
    #[serde(default, borrow)]
    continent: Option<RawPlace<'a>>,
    #[serde(default, borrow)]
    country: Option<RawPlace<'a>>,
    #[serde(default, borrow)]
    registered_country: Option<RawPlace<'a>>,
    #[serde(default, borrow)]
    represented_country: Option<RawPlace<'a>>,
    #[serde(default, borrow)]
    traits: Option<RawTraits<'a>>,
    #[serde(default, borrow)]
    location: Option<RawLocation<'a>>,
    #[serde(default, borrow)]
    postal: Option<RawPostal<'a>>,
    #[serde(default, borrow, deserialize_with = "bounded_subdivisions")]
    subdivisions: Vec<RawPlace<'a>>,
}

/// GeoIP2 has at most a few subdivision levels; refuse absurd lists from a corrupt database
/// before allocating for them.
fn bounded_subdivisions<'de: 'a, 'a, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<RawPlace<'a>>, D::Error> {
    struct SeqVisitor<'a>(std::marker::PhantomData<&'a ()>);
    impl<'de: 'a, 'a> Visitor<'de> for SeqVisitor<'a> {
        type Value = Vec<RawPlace<'a>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of subdivisions")
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4));
            while let Some(place) = seq.next_element::<RawPlace<'a>>()? {
                if out.len() >= 32 {
                    return Err(de::Error::custom("more than 32 subdivisions"));
                }
                out.push(place);
            }
            Ok(out)
        }
    }
    deserializer.deserialize_seq(SeqVisitor(std::marker::PhantomData))
}

/// The fields of a GeoLite2-ASN / GeoIP2-ISP record that [`Asn`] uses.
#[derive(Deserialize, Default)]
pub(crate) struct RawAsn<'a> {
    #[serde(default)]
    autonomous_system_number: Option<u32>,
    #[serde(default, borrow)]
    autonomous_system_organization: Option<&'a str>,
    #[serde(default, borrow)]
    isp: Option<&'a str>,
    #[serde(default, borrow)]
    organization: Option<&'a str>,
    #[serde(default, borrow)]
    mobile_country_code: Option<&'a str>,
    #[serde(default, borrow)]
    mobile_network_code: Option<&'a str>,
}

/// A GeoIP2 Anonymous IP record.
#[derive(Deserialize, Default)]
pub(crate) struct RawAnonymousIp {
    #[serde(default)]
    is_anonymous: bool,
    #[serde(default)]
    is_anonymous_vpn: bool,
    #[serde(default)]
    is_hosting_provider: bool,
    #[serde(default)]
    is_public_proxy: bool,
    #[serde(default)]
    is_residential_proxy: bool,
    #[serde(default)]
    is_tor_exit_node: bool,
}

impl RawAnonymousIp {
    pub(crate) fn into_anonymous_ip(self, network: Option<IpNet>) -> AnonymousIp {
        AnonymousIp {
            network,
            is_anonymous: self.is_anonymous,
            is_anonymous_vpn: self.is_anonymous_vpn,
            is_hosting_provider: self.is_hosting_provider,
            is_public_proxy: self.is_public_proxy,
            is_residential_proxy: self.is_residential_proxy,
            is_tor_exit_node: self.is_tor_exit_node,
        }
    }
}

fn owned(s: Option<&str>) -> Option<String> {
    s.map(str::to_owned)
}

impl RawPlace<'_> {
    fn to_place(&self, locales: &Locales) -> Place {
        Place {
            geoname_id: self.geoname_id,
            iso_code: owned(self.iso_code.or(self.code)),
            name: owned(locales.pick(&self.names)),
        }
    }

    fn to_country(&self, locales: &Locales) -> Country {
        Country {
            geoname_id: self.geoname_id,
            iso_code: owned(self.iso_code),
            name: owned(locales.pick(&self.names)),
            is_in_european_union: self.is_in_european_union.unwrap_or(false),
        }
    }

    fn to_represented(&self, locales: &Locales) -> RepresentedCountry {
        RepresentedCountry {
            geoname_id: self.geoname_id,
            iso_code: owned(self.iso_code),
            name: owned(locales.pick(&self.names)),
            is_in_european_union: self.is_in_european_union.unwrap_or(false),
            kind: owned(self.kind),
        }
    }
}

impl RawTraits<'_> {
    fn to_traits(&self) -> Traits {
        Traits {
            is_anonymous: self.is_anonymous,
            is_anonymous_proxy: self.is_anonymous_proxy,
            is_anonymous_vpn: self.is_anonymous_vpn,
            is_anycast: self.is_anycast,
            is_hosting_provider: self.is_hosting_provider,
            is_legitimate_proxy: self.is_legitimate_proxy,
            is_public_proxy: self.is_public_proxy,
            is_residential_proxy: self.is_residential_proxy,
            is_satellite_provider: self.is_satellite_provider,
            is_tor_exit_node: self.is_tor_exit_node,
            user_type: owned(self.user_type),
            connection_type: owned(self.connection_type),
        }
    }
}

impl RawCity<'_> {
    pub(crate) fn to_location(&self, network: Option<IpNet>, locales: &Locales) -> Location {
        let location = self.location.as_ref();
        Location {
            network,
            continent: self.continent.as_ref().map(|p| p.to_place(locales)),
            country: self.country.as_ref().map(|p| p.to_country(locales)),
            registered_country: self
                .registered_country
                .as_ref()
                .map(|p| p.to_country(locales)),
            represented_country: self
                .represented_country
                .as_ref()
                .map(|p| p.to_represented(locales)),
            subdivisions: self
                .subdivisions
                .iter()
                .map(|p| p.to_place(locales))
                .collect(),
            city: self.city.as_ref().map(|p| p.to_place(locales)),
            postal_code: owned(self.postal.as_ref().and_then(|p| p.code)),
            latitude: location.and_then(|l| l.latitude),
            longitude: location.and_then(|l| l.longitude),
            accuracy_radius: location.and_then(|l| l.accuracy_radius),
            time_zone: owned(location.and_then(|l| l.time_zone)),
            metro_code: location.and_then(|l| l.metro_code),
            traits: self
                .traits
                .as_ref()
                .map(RawTraits::to_traits)
                .unwrap_or_default(),
        }
    }
}

impl RawAsn<'_> {
    pub(crate) fn into_isp(self, network: Option<IpNet>) -> Isp {
        Isp {
            network,
            isp: owned(self.isp),
            organization: owned(self.organization),
            autonomous_system_number: self.autonomous_system_number,
            autonomous_system_organization: owned(self.autonomous_system_organization),
            mobile_country_code: owned(self.mobile_country_code),
            mobile_network_code: owned(self.mobile_network_code),
        }
    }

    pub(crate) fn into_asn(self, network: Option<IpNet>) -> Asn {
        Asn {
            network,
            number: self.autonomous_system_number,
            organization: owned(self.autonomous_system_organization),
            isp: owned(self.isp),
            network_organization: owned(self.organization),
            mobile_country_code: owned(self.mobile_country_code),
            mobile_network_code: owned(self.mobile_network_code),
        }
    }
}
