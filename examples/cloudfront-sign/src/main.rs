//! `cloudfront-sign`: prints a CloudFront signed URL or signed cookies.
//!
//! ```text
//! cloudfront-sign url --key-pair-id ID --private-key FILE --url URL --expires EPOCH \
//!     [--starts EPOCH] [--ip CIDR] [--resource PATTERN] [--hash sha1|sha256] \
//!     [--passphrase-env NAME]
//! cloudfront-sign cookies ...same flags...
//! ```
//!
//! `--resource`, `--starts` or `--ip` select a custom policy (the resource defaults to the
//! URL); otherwise the policy is canned. `url` prints the signed URL; `cookies` prints one
//! `Name=Value` line per cookie. The hash defaults to SHA-1 for RSA keys and SHA-256 for ECDSA
//! keys. The key file may be any PEM or DER layout Python `cryptography` loads; an encrypted
//! PKCS#8 key is decrypted with the passphrase in environment variable `--passphrase-env`.

use std::process::ExitCode;

use reel_cloudfront::{CookieOptions, HashAlgorithm, Policy, Signer, SigningKey};

const USAGE: &str = "\
usage: cloudfront-sign url|cookies --key-pair-id ID --private-key FILE --url URL --expires EPOCH
                       [--starts EPOCH] [--ip CIDR] [--resource PATTERN] [--hash sha1|sha256]
                       [--passphrase-env NAME]

  url       print the signed URL
  cookies   print the signed cookies, one Name=Value per line

--resource, --starts or --ip select a custom policy (resource defaults to the URL);
otherwise the policy is canned. The private key is an RSA 2048 or ECDSA P-256 key in
PEM or DER (PKCS#1, PKCS#8 or SEC1); for an encrypted PKCS#8 key, --passphrase-env names
the environment variable holding its passphrase.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    Url,
    Cookies,
}

#[derive(Debug, Default)]
struct Args {
    key_pair_id: Option<String>,
    private_key: Option<String>,
    url: Option<String>,
    expires: Option<u64>,
    starts: Option<u64>,
    ip: Option<String>,
    resource: Option<String>,
    hash: Option<HashAlgorithm>,
    passphrase_env: Option<String>,
}

fn parse(arguments: &[String]) -> Result<(Output, Args), String> {
    let (command, flags) = arguments
        .split_first()
        .ok_or_else(|| "missing command: url or cookies".to_owned())?;
    let output = match command.as_str() {
        "url" => Output::Url,
        "cookies" => Output::Cookies,
        other => return Err(format!("unknown command {other:?}: use url or cookies")),
    };
    let mut args = Args::default();
    let mut flags = flags.iter();
    while let Some(flag) = flags.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value.to_owned())),
            _ => (flag.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| flags.next().cloned())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let epoch = |text: String| {
            text.parse::<u64>()
                .map_err(|_| format!("{name} takes Unix seconds, got {text:?}"))
        };
        match name {
            "--key-pair-id" => args.key_pair_id = Some(value()?),
            "--private-key" => args.private_key = Some(value()?),
            "--url" => args.url = Some(value()?),
            "--expires" => args.expires = Some(epoch(value()?)?),
            "--starts" => args.starts = Some(epoch(value()?)?),
            "--ip" => args.ip = Some(value()?),
            "--resource" => args.resource = Some(value()?),
            "--hash" => args.hash = Some(value()?.parse()?),
            "--passphrase-env" => args.passphrase_env = Some(value()?),
            other => return Err(format!("unknown flag {other:?}")),
        }
    }
    Ok((output, args))
}

fn run(output: Output, args: Args) -> Result<Vec<String>, String> {
    let required = |value: Option<String>, flag: &str| value.ok_or(format!("{flag} is required"));
    let key_pair_id = required(args.key_pair_id, "--key-pair-id")?;
    let key_file = required(args.private_key, "--private-key")?;
    let url = required(args.url, "--url")?;
    let expires = args.expires.ok_or("--expires is required")?;

    let bytes = std::fs::read(&key_file).map_err(|e| format!("cannot read {key_file}: {e}"))?;
    let key = match &args.passphrase_env {
        None => SigningKey::from_bytes(&bytes),
        Some(name) => {
            let passphrase = std::env::var(name)
                .map_err(|_| format!("--passphrase-env: environment variable {name} is not set"))?;
            SigningKey::from_encrypted(&bytes, passphrase)
        }
    }
    .map_err(|e| e.to_string())?;
    let mut signer = Signer::new(key_pair_id, key).map_err(|e| e.to_string())?;
    if let Some(hash) = args.hash {
        signer = signer
            .with_hash_algorithm(hash)
            .map_err(|e| e.to_string())?;
    }

    let custom = args.resource.is_some() || args.starts.is_some() || args.ip.is_some();
    let policy = if custom {
        let mut builder = Policy::custom(args.resource.unwrap_or_else(|| url.clone()), expires);
        if let Some(starts) = args.starts {
            builder = builder.starts(starts);
        }
        if let Some(ip) = &args.ip {
            builder = builder.source_ip(ip);
        }
        builder.build()
    } else {
        Policy::canned(&url, expires)
    }
    .map_err(|e| e.to_string())?;

    match output {
        Output::Url => Ok(vec![
            signer
                .signed_url(&url, &policy)
                .map_err(|e| e.to_string())?,
        ]),
        Output::Cookies => {
            let cookies = signer
                .signed_cookies(&policy, &CookieOptions::new())
                .map_err(|e| e.to_string())?;
            Ok(cookies
                .iter()
                .map(|cookie| format!("{}={}", cookie.name(), cookie.value()))
                .collect())
        }
    }
}

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    if arguments.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let (output, args) = match parse(&arguments) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("cloudfront-sign: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(output, args) {
        Ok(lines) => {
            for line in lines {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("cloudfront-sign: {message}");
            ExitCode::FAILURE
        }
    }
}
