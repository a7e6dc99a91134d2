//! The tower layer and axum extractor over real HTTP on loopback: proxy headers are believed
//! only from trusted proxies, IPv6 and `Forwarded` work, and a missing layer is a clear error.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use reel_core::client_ip::{ClientIpResolver, TrustedProxies};
use reel_geoip::testdata::{AsnDatabase, CityDatabase};
use reel_geoip::tower::{ClientGeo, GeoIpLayer};
use reel_geoip::{GeoIp, Slot};

async fn describe(geo: ClientGeo) -> String {
    let city = geo
        .location
        .as_ref()
        .and_then(|l| l.city.as_ref()?.name.clone())
        .unwrap_or_else(|| "-".into());
    let asn = geo
        .asn
        .as_ref()
        .and_then(|a| a.number)
        .map_or("-".into(), |n| n.to_string());
    format!("{} {city} {asn}", geo.ip)
}

async fn serve(trusted: TrustedProxies, with_layer: bool) -> String {
    let geoip = GeoIp::new();
    geoip
        .replace(
            &Slot::Location,
            CityDatabase::new().build().unwrap(),
            "test",
        )
        .unwrap();
    geoip
        .replace(&Slot::Asn, AsnDatabase::new().build().unwrap(), "test")
        .unwrap();
    let mut app = Router::new().route("/", get(describe));
    if with_layer {
        app = app.layer(GeoIpLayer::new(geoip, ClientIpResolver::new(trusted)));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    format!("http://{addr}/")
}

async fn get_with(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let client = reqwest::Client::new();
    let mut request = client.get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn trusted_proxy_headers_give_the_client_location() {
    let url = serve(TrustedProxies::loopback(), true).await;
    assert_eq!(get_with(&url, &[]).await, (200, "127.0.0.1 - -".to_owned()));
    assert_eq!(
        get_with(&url, &[("x-forwarded-for", "81.2.69.160")])
            .await
            .1,
        "81.2.69.160 London 64496"
    );
    assert_eq!(
        get_with(&url, &[("x-forwarded-for", "[2001:db8:1::17]:4711")])
            .await
            .1,
        "2001:db8:1::17 Berlin 64501"
    );
    // The resolver reads X-Forwarded-For only: a client-sent `Forwarded` that the proxy passed
    // through does not pick the location.
    assert_eq!(
        get_with(
            &url,
            &[
                ("forwarded", "for=81.2.69.160"),
                ("x-forwarded-for", "216.160.83.56")
            ]
        )
        .await
        .1,
        "216.160.83.56 Milton 64498"
    );
    assert_eq!(
        get_with(&url, &[("forwarded", "for=81.2.69.160")]).await.1,
        "127.0.0.1 - -"
    );
    // The client's own claim (leftmost) is ignored: the rightmost untrusted hop wins.
    assert_eq!(
        get_with(&url, &[("x-forwarded-for", "216.160.83.56, 89.160.20.128")])
            .await
            .1,
        "89.160.20.128 Linköping 64497"
    );
    // An IPv4-mapped address from a proxy is looked up as IPv4.
    assert_eq!(
        get_with(&url, &[("x-forwarded-for", "::ffff:216.160.83.56")])
            .await
            .1,
        "216.160.83.56 Milton 64498"
    );
}

#[tokio::test]
async fn headers_from_untrusted_peers_are_ignored() {
    let url = serve(TrustedProxies::none(), true).await;
    assert_eq!(
        get_with(
            &url,
            &[
                ("x-forwarded-for", "81.2.69.160"),
                ("forwarded", "for=81.2.69.160")
            ]
        )
        .await
        .1,
        "127.0.0.1 - -"
    );
}

#[tokio::test]
async fn the_extractor_without_the_layer_is_a_clear_500() {
    let url = serve(TrustedProxies::loopback(), false).await;
    let (status, body) = get_with(&url, &[]).await;
    assert_eq!(status, 500);
    assert!(body.contains("GeoIpLayer"), "{body}");
}
