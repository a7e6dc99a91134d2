//! Stored policies and URL encoding from arbitrary text: `Policy::from_json` and `encode_url`
//! must never panic; a policy `from_json` accepts must round-trip (its JSON reads back as the
//! same policy), and `encode_url` must be idempotent (encoding an encoded URL changes
//! nothing, so a URL encoded twice on its way still matches its signature) and leave no raw
//! non-ASCII character in the path or query.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reel_cloudfront::{Policy, encode_url};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };

    if let Ok(policy) = Policy::from_json(text) {
        let again = Policy::from_json(policy.json()).expect("a policy's own JSON reads back");
        assert_eq!(again.json(), policy.json());
        assert_eq!(again.resource(), policy.resource());
        assert_eq!(again.expires(), policy.expires());
        assert_eq!(again.starts(), policy.starts());
        assert_eq!(again.source_ip(), policy.source_ip());
        assert!(
            serde_json::from_str::<serde_json::Value>(policy.json()).is_ok(),
            "not JSON: {}",
            policy.json()
        );
        // Matching arbitrary text against the stored pattern must terminate.
        let _ = policy.covers(text);
    }

    let encoded = encode_url(text);
    assert_eq!(encode_url(&encoded), encoded, "encode_url is not idempotent on {text:?}");
    if let Some(scheme_end) = encoded.find("//") {
        let after_host = encoded[scheme_end + 2..]
            .find('/')
            .map_or("", |i| &encoded[scheme_end + 2 + i..]);
        assert!(after_host.is_ascii(), "raw non-ASCII left in {encoded:?}");
    }
});
