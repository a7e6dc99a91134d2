//! `geoip-lookup --db FILE`: reads one IP address per line on stdin and prints one JSON
//! object per line on stdout:
//!
//! ```text
//! {"ip":"81.2.69.160","network":"81.2.69.0/24","country":"GB","continent":"EU","subdivision":"ENG",
//!  "city":"London","postal":"EC1A","latitude":51.5142,"longitude":-0.0931,"time_zone":"Europe/London",
//!  "registered_country":"GB","represented_country":null,"metro_code":null,"traits":[]}
//! ```
//!
//! Country, continent, subdivision (the first, largest one), registered and represented
//! country (military bases abroad) are ISO codes, the city is its name in the `--locale`
//! language (default English; `en-US`, `pt` and the like fall back to the database's
//! language), `metro_code` the US metro code, `traits` the names of the flags the record sets
//! (`is_anonymous_proxy`, `is_satellite_provider`, `is_anycast`, and with GeoIP2 Enterprise
//! `is_anonymous_vpn`, `is_public_proxy`, `is_tor_exit_node` ...), and anything the database
//! does not know is `null`. A line that is not an IP address prints
//! `{"ip":<line>,"error":<message>}` and the run goes on.
//!
//! `geoip-lookup --write-demo-db FILE` writes a small made-up City database to try it with:
//!
//! ```text
//! geoip-lookup --write-demo-db /tmp/demo.mmdb
//! printf '81.2.69.160\n2001:db8:1::17\nnot-an-ip\n' | geoip-lookup --db /tmp/demo.mmdb
//! ```

use std::io::{BufRead, Write};
use std::net::IpAddr;
use std::process::ExitCode;

use reel_geoip::{FileSource, GeoIp, Slot, Traits};
use serde::Serialize;

const USAGE: &str = "usage: geoip-lookup --db FILE [--locale TAG] < ips.txt\n       geoip-lookup --write-demo-db FILE";

#[derive(Serialize)]
struct Answer<'a> {
    ip: &'a str,
    network: Option<String>,
    country: Option<String>,
    continent: Option<String>,
    subdivision: Option<String>,
    city: Option<String>,
    postal: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    time_zone: Option<String>,
    registered_country: Option<String>,
    represented_country: Option<String>,
    metro_code: Option<u16>,
    traits: Vec<&'static str>,
}

/// The names of the flags a record sets.
fn trait_names(traits: &Traits) -> Vec<&'static str> {
    [
        ("is_anonymous", traits.is_anonymous),
        ("is_anonymous_proxy", traits.is_anonymous_proxy),
        ("is_anonymous_vpn", traits.is_anonymous_vpn),
        ("is_anycast", traits.is_anycast),
        ("is_hosting_provider", traits.is_hosting_provider),
        ("is_legitimate_proxy", traits.is_legitimate_proxy),
        ("is_public_proxy", traits.is_public_proxy),
        ("is_residential_proxy", traits.is_residential_proxy),
        ("is_satellite_provider", traits.is_satellite_provider),
        ("is_tor_exit_node", traits.is_tor_exit_node),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect()
}

#[derive(Serialize)]
struct Failure<'a> {
    ip: &'a str,
    error: String,
}

fn answer(geoip: &GeoIp, line: &str) -> Result<String, serde_json::Error> {
    let text = line.trim();
    let looked_up = text
        .parse::<IpAddr>()
        .map_err(|e| format!("not an IP address: {e}"))
        .and_then(|ip| geoip.location(ip).map_err(|e| e.to_string()));
    match looked_up {
        Ok(location) => {
            let location = location.as_ref();
            serde_json::to_string(&Answer {
                ip: text,
                network: location.and_then(|l| l.network).map(|n| n.to_string()),
                country: location.and_then(|l| l.country.as_ref()?.iso_code.clone()),
                continent: location.and_then(|l| l.continent.as_ref()?.iso_code.clone()),
                subdivision: location.and_then(|l| l.subdivisions.first()?.iso_code.clone()),
                city: location.and_then(|l| l.city.as_ref()?.name.clone()),
                postal: location.and_then(|l| l.postal_code.clone()),
                latitude: location.and_then(|l| l.latitude),
                longitude: location.and_then(|l| l.longitude),
                time_zone: location.and_then(|l| l.time_zone.clone()),
                registered_country: location
                    .and_then(|l| l.registered_country.as_ref()?.iso_code.clone()),
                represented_country: location
                    .and_then(|l| l.represented_country.as_ref()?.iso_code.clone()),
                metro_code: location.and_then(|l| l.metro_code),
                traits: location.map(|l| trait_names(&l.traits)).unwrap_or_default(),
            })
        }
        Err(error) => serde_json::to_string(&Failure { ip: line, error }),
    }
}

fn run(db: &str, locale: &str) -> Result<(), String> {
    // The location slot accepts City, Country and Enterprise databases.
    let geoip = GeoIp::builder().locales([locale, "en"]).build();
    FileSource::new(db, Slot::Location)
        .load_now(&geoip)
        .map_err(|e| e.to_string())?;
    let stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lines() {
        let line = line.map_err(|e| format!("reading stdin: {e}"))?;
        let json = answer(&geoip, &line).map_err(|e| format!("encoding JSON: {e}"))?;
        // One line at a time, so the tool works interactively and in pipelines.
        writeln!(stdout, "{json}")
            .and_then(|()| stdout.flush())
            .map_err(|e| format!("writing stdout: {e}"))?;
    }
    Ok(())
}

fn write_demo(path: &str) -> Result<(), String> {
    let bytes = reel_geoip::testdata::CityDatabase::new()
        .build()
        .map_err(|e| format!("building the demo database: {e}"))?;
    std::fs::write(path, bytes).map_err(|e| format!("writing {path}: {e}"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["--db", db] => run(db, "en"),
        ["--db", db, "--locale", locale] | ["--locale", locale, "--db", db] => run(db, locale),
        ["--write-demo-db", path] => write_demo(path),
        ["--help" | "-h"] => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("geoip-lookup: {message}");
            ExitCode::FAILURE
        }
    }
}
