//! A misbehaving client cannot exhaust the server: one that floods requests without reading
//! the answers, one that stalls in the TLS handshake or never says hello, one that sends an
//! oversized frame — each is cut off within its deadline while a well-behaved kiosk is
//! served all along. On SQLite and PostgreSQL.

mod common;

use std::time::{Duration, Instant};

use boss_protocol::*;
use common::*;
use tokio::io::AsyncWriteExt;

const GOOD: &str = "K0001";
const BAD: &str = "K0002";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_client_is_cut_off_and_others_are_served() {
    each_db("flood", |db| async move {
        let w = World::new(db, &[GOOD, BAD]).await;
        let mut cfg = w.config();
        cfg.limits.write_timeout_ms = 1_000;
        cfg.limits.max_in_flight = 4;
        let hq = w.hq_with(cfg).await;
        let mut good = Kiosk::connect(hq.addr, &w.certs(), GOOD).await;
        let mut bad = Kiosk::connect(hq.addr, &w.certs(), BAD).await;
        // The flood: heartbeats as fast as TCP takes them, answers never read.
        let flood = tokio::spawn(async move {
            let frame = boss_protocol::codec::encode(&boss_protocol::codec::Envelope::request(
                9,
                Request::Heartbeat(heartbeat("idle")),
            ))
            .unwrap();
            let started = Instant::now();
            let mut sent = 0u64;
            while started.elapsed() < Duration::from_secs(20) {
                match tokio::time::timeout(Duration::from_secs(5), bad.stream.write_all(&frame))
                    .await
                {
                    Ok(Ok(())) => sent += 1,
                    _ => break,
                }
            }
            (sent, started.elapsed())
        });
        // Meanwhile the good kiosk is answered promptly.
        for i in 0..10 {
            let t = Instant::now();
            let r = good
                .call(recharge(&format!("K0001-F-{i}"), "13800000000", 100))
                .await
                .unwrap();
            assert!(matches!(r, Reply::Ok(_)), "{r:?}");
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "served while another floods"
            );
        }
        let (sent, took) = flood.await.unwrap();
        assert!(
            took < Duration::from_secs(20),
            "the flooder was cut off (after {sent} frames, {took:?})"
        );
        let f = hq.shared.store.kiosk(GOOD).unwrap();
        assert!(f.online);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_handshakes_silence_and_oversized_frames_are_cut_off() {
    each_db("stall", |db| async move {
        let w = World::new(db, &[GOOD, BAD]).await;
        let mut cfg = w.config();
        cfg.limits.max_handshakes = 8;
        cfg.limits.handshake_timeout_ms = 1_000;
        cfg.limits.hello_timeout_ms = 1_000;
        cfg.limits.idle_timeout_ms = 1_500;
        cfg.limits.max_frame = 64 * 1024;
        let hq = w.hq_with(cfg).await;
        // 20 TCP connections that never start TLS: at most 8 handshakes wait, the rest are
        // closed at once, and all are gone after the handshake deadline.
        let mut stalled = Vec::new();
        for _ in 0..20 {
            stalled.push(tokio::net::TcpStream::connect(hq.addr).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        for mut s in stalled {
            let mut b = [0u8; 1];
            let r = tokio::time::timeout(
                Duration::from_secs(5),
                tokio::io::AsyncReadExt::read(&mut s, &mut b),
            )
            .await;
            assert!(
                matches!(r, Ok(Ok(0) | Err(_))),
                "closed by the server: {r:?}"
            );
        }
        // A kiosk connects fine afterwards.
        let mut good = Kiosk::connect(hq.addr, &w.certs(), GOOD).await;
        let r = good
            .call(Request::Heartbeat(heartbeat("idle")))
            .await
            .unwrap();
        assert!(matches!(r, Reply::Ok(Response::Heartbeat(_))));
        // TLS done but no hello: closed after the hello deadline.
        let mut mute = Kiosk::connect_raw(hq.addr, client_config(&w.certs(), BAD))
            .await
            .unwrap();
        let t = Instant::now();
        let r = mute.wait_reply(1, Duration::from_secs(10)).await;
        assert!(r.is_err() && t.elapsed() < Duration::from_secs(5), "{r:?}");
        // A frame above the limit: the connection is closed without reading it.
        let mut big = Kiosk::connect(hq.addr, &w.certs(), BAD).await;
        big.stream
            .write_all(&(1_000_000u32).to_be_bytes())
            .await
            .unwrap();
        let r = big.wait_reply(1, Duration::from_secs(10)).await;
        assert!(r.is_err(), "{r:?}");
        // Silence after hello: closed after the idle deadline.
        let mut quiet = Kiosk::connect(hq.addr, &w.certs(), BAD).await;
        let t = Instant::now();
        let r = quiet.wait_reply(99, Duration::from_secs(10)).await;
        assert!(r.is_err() && t.elapsed() < Duration::from_secs(8), "{r:?}");
        // Its own silence ended the good kiosk's connection too; it reconnects and is served.
        let mut good = Kiosk::connect(hq.addr, &w.certs(), GOOD).await;
        let r = good
            .call(Request::Heartbeat(heartbeat("idle")))
            .await
            .unwrap();
        assert!(matches!(r, Reply::Ok(Response::Heartbeat(_))));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_a_kiosk_certificate_is_refused() {
    each_db("no_cert", |db| async move {
        let w = World::new(db, &[GOOD]).await;
        let hq = w.hq().await;
        // A certificate from another CA.
        let other = tempfile::tempdir().unwrap();
        boss_protocol::pki::generate_dev(other.path(), &[GOOD]).unwrap();
        // Trust this world's server, present the foreign kiosk certificate.
        let roots = boss_protocol::pki::load_certs(&w.certs().join("operator-ca.pem")).unwrap();
        let (cp, kp) = boss_protocol::pki::DevPki::kiosk_paths(other.path(), GOOD);
        let cfg = boss_protocol::pki::client_config(
            &roots,
            boss_protocol::pki::load_certs(&cp).unwrap(),
            boss_protocol::pki::load_key(&kp).unwrap(),
        )
        .unwrap();
        let r = async {
            let mut k = Kiosk::connect_raw(hq.addr, cfg).await?;
            k.call(Request::Heartbeat(heartbeat("idle"))).await
        }
        .await;
        assert!(r.is_err(), "refused during the handshake: {r:?}");
        // The gateway certificate is not a kiosk certificate either.
        let gw = boss_protocol::pki::client_config(
            &roots,
            boss_protocol::pki::load_certs(&w.certs().join("gateway.pem")).unwrap(),
            boss_protocol::pki::load_key(&w.certs().join("gateway.key.pem")).unwrap(),
        )
        .unwrap();
        let r = async {
            let mut k = Kiosk::connect_raw(hq.addr, gw).await?;
            k.call(Request::Heartbeat(heartbeat("idle"))).await
        }
        .await;
        assert!(r.is_err(), "{r:?}");
    })
    .await;
}
