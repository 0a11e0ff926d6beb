//! The key store and its administration (`tickstream keys create|list|revoke|rotate`): rotation overlap and
//! revocation reaching a running API within a second.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::StatusCode;
use common::app::*;
use common::*;
use tickstream_api::ApiConfig;
use tickstream_api::keys::{KeyStore, KeyStoreConfig, NewKey, Scope, spawn_reload};
use tickstream_model::UnixNanos;

const DAY: i64 = 86_400_000_000_000;

fn reader(name: &str) -> NewKey {
    NewKey {
        name: name.into(),
        scopes: BTreeSet::from([Scope::Read]),
        tier: "standard".into(),
        expires_at: None,
    }
}

#[tokio::test]
async fn file_store_keeps_only_hashes() {
    let dir = temp_dir("keys-file");
    let store = KeyStore::open(&KeyStoreConfig::File {
        path: dir.join("keys.json"),
    })
    .unwrap();
    assert!(
        store.list().await.unwrap().is_empty(),
        "a missing file is an empty store"
    );
    let issued = store.create(reader("app"), UnixNanos(T0)).await.unwrap();
    assert!(issued.text.starts_with("tsk_"));
    let file = std::fs::read_to_string(dir.join("keys.json")).unwrap();
    assert!(
        !file.contains(&issued.text) && !file.contains(issued.text.rsplit('_').next().unwrap())
    );
    assert!(file.contains(&hex_sha256(&issued.text)));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("keys.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "only the owner may read the key file");
    }
    let listed = store.list().await.unwrap();
    assert_eq!(listed, vec![issued.key.clone()]);
    let empty = NewKey {
        scopes: BTreeSet::new(),
        ..reader("none")
    };
    assert!(
        store
            .create(empty, UnixNanos(T0))
            .await
            .unwrap_err()
            .to_string()
            .starts_with("scopes")
    );
    assert!(store.revoke("nope", UnixNanos(T0)).await.is_err());
    let bad = KeyStoreConfig::File { path: "".into() };
    assert!(
        KeyStore::open(&bad)
            .unwrap_err()
            .to_string()
            .starts_with("keys.path")
    );
}

#[tokio::test]
async fn rotation_keeps_the_old_key_for_the_overlap() {
    let dir = temp_dir("keys-rotate");
    let store = KeyStore::open(&KeyStoreConfig::File {
        path: dir.join("keys.json"),
    })
    .unwrap();
    let app = app(ApiConfig::default());
    let old = store.create(reader("app"), UnixNanos(T0)).await.unwrap();
    let new = store
        .rotate(&old.key.id, Duration::from_secs(86_400), UnixNanos(T0))
        .await
        .unwrap();
    assert_eq!(
        (new.key.name.as_str(), &new.key.scopes),
        ("app", &old.key.scopes)
    );
    app.keys.replace(store.list().await.unwrap());

    let uri = "/v1/instruments";
    for text in [&old.text, &new.text] {
        let (status, _, _) = call(&app.router, get(uri, Some(text))).await;
        assert_eq!(status, StatusCode::OK, "both keys work during the overlap");
    }
    app.now.store(T0 + DAY - 1, Ordering::Relaxed);
    assert_eq!(
        call(&app.router, get(uri, Some(&old.text))).await.0,
        StatusCode::OK
    );
    app.now.store(T0 + DAY, Ordering::Relaxed);
    let (status, _, body) = call(&app.router, get(uri, Some(&old.text))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("key_expired"))
    );
    assert_eq!(
        call(&app.router, get(uri, Some(&new.text))).await.0,
        StatusCode::OK
    );
}

#[tokio::test(start_paused = true)]
async fn a_revoked_key_stops_working_within_a_second() {
    let dir = temp_dir("keys-revoke");
    let store = KeyStore::open(&KeyStoreConfig::File {
        path: dir.join("keys.json"),
    })
    .unwrap();
    let issued = store.create(reader("app"), UnixNanos(T0)).await.unwrap();
    let app = app(ApiConfig::default());
    let reload = spawn_reload(store.clone(), app.keys.clone(), Duration::from_millis(500))
        .await
        .unwrap();
    let uri = "/v1/instruments";
    assert_eq!(
        call(&app.router, get(uri, Some(&issued.text))).await.0,
        StatusCode::OK
    );

    store.revoke(&issued.key.id, UnixNanos(T0)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (status, _, body) = call(&app.router, get(uri, Some(&issued.text))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("key_revoked"))
    );

    // A store that becomes unreadable keeps the keys last read.
    std::fs::write(dir.join("keys.json"), "{not json").unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(app.keys.len(), 1);
    reload.abort();
}
