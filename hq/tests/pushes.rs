//! Head office's acts reaching kiosks: configuration bundles (checked, versioned, signed,
//! rolled out, per-kiosk status, rollback), lock and unlock (and a locked kiosk served only
//! what settles), diagnostics — through whichever instance holds the kiosk's connection,
//! and one connection per kiosk across instances. Every act in the audit log.

mod common;

use boss_protocol::*;
use common::*;
use telekiosk_hq::Target;

const K1: &str = "K0001";
const K2: &str = "K0002";

const SETTINGS: &str = "[topup]\nmax_yuan = 300\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_is_checked_signed_rolled_out_and_rolled_back() {
    each_db("config", |db| async move {
        let w = World::new(db, &[K1, K2]).await;
        let hq = w.hq().await;
        let store = hq.shared.store.clone();
        let key =
            telekiosk_settings::bundle::load_signing_key(&w.config().bundles.signing_key).unwrap();
        let verify = telekiosk_settings::bundle::load_verifying_key(
            &w.certs()
                .join(telekiosk_settings::bundle::DEV_VERIFYING_KEY),
        )
        .unwrap();
        // A document the kiosk could not honour is refused with the key and the reason.
        let e = store
            .create_bundle("alice", "[topup]\nmax_yuan = 0\nbogus = 1\n", &key, None)
            .unwrap_err();
        assert!(e.to_string().contains("topup"), "{e}");
        assert!(store.bundles().unwrap().is_empty());

        let (mut k1, _) = Kiosk::hello(hq.addr, &w.certs(), K1, None).await;
        let (mut k2, _) = Kiosk::hello(hq.addr, &w.certs(), K2, None).await;
        let v1 = store
            .create_bundle("alice", SETTINGS, &key, Some("spring prices"))
            .unwrap();
        assert_eq!(v1.version, 1);
        store.rollout("alice", 1, &Target::Fleet).unwrap();
        for (k, outcome) in [
            (&mut k1, AckOutcome::Applied),
            (&mut k2, AckOutcome::Rejected),
        ] {
            let (id, push) = k.next_push().await.unwrap();
            let Push::ConfigBundle(b) = &push else {
                panic!("{push:?}")
            };
            assert_eq!(b.version, 1);
            assert_eq!(b.config["topup"]["max_yuan"], 300);
            telekiosk_settings::bundle::verify(
                &verify,
                b.version,
                &b.config,
                b.signature.as_deref(),
            )
            .expect("signed with head office's key");
            let msg = (outcome == AckOutcome::Rejected)
                .then_some("receipt.shop too long for this printer");
            k.ack(id, &push, outcome, msg, None).await.unwrap();
        }
        let st = eventually("both acknowledged", || {
            let s = store.rollout_status(1).unwrap();
            s.iter()
                .all(|r| r.status != "queued" && r.status != "sent")
                .then_some(s)
        })
        .await;
        assert_eq!(st[0].kiosk_id, K1);
        assert_eq!(st[0].status, "applied");
        assert_eq!(
            (st[1].status.as_str(), st[1].reason.as_deref()),
            ("rejected", Some("receipt.shop too long for this printer"))
        );

        // Rollback of K0001 to an earlier content: a new version with the old document.
        let v2 = store
            .create_bundle("alice", "[topup]\nmax_yuan = 200\n", &key, None)
            .unwrap();
        store
            .rollout("alice", v2.version, &Target::Kiosk(K1.into()))
            .unwrap();
        let (id, p) = k1.next_push().await.unwrap();
        k1.ack(id, &p, AckOutcome::Applied, None, None)
            .await
            .unwrap();
        let (b3, q) = store
            .rollback("bob", 1, &Target::Kiosk(K1.into()), &key)
            .unwrap();
        assert_eq!((b3.version, b3.based_on, q.len()), (3, Some(1), 1));
        let (_, p) = k1.next_push().await.unwrap();
        let Push::ConfigBundle(b) = p else { panic!() };
        assert_eq!((b.version, &b.config), (3, &v1.config));

        // A kiosk that comes back with an older version is offered its bundle at hello.
        drop(k2);
        let (mut k2, hello) = Kiosk::hello(hq.addr, &w.certs(), K2, Some(0)).await;
        assert_eq!(hello.config_version, Some(1));
        let (_, p) = k2.next_push().await.unwrap();
        assert!(matches!(
            p,
            Push::ConfigBundle(ConfigBundle { version: 1, .. })
        ));

        let audit = store.audit(50, None).unwrap();
        let acts: Vec<(&str, &str)> = audit
            .iter()
            .map(|a| (a.actor.as_str(), a.action.as_str()))
            .collect();
        assert!(acts.contains(&("alice", "config.create")));
        assert!(acts.contains(&("alice", "config.rollout")));
        assert!(acts.contains(&("bob", "config.rollout")));
        assert_eq!(
            store.audit(50, Some("bob")).unwrap().len(),
            2,
            "bob: create + rollout of the rollback"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_kiosk_is_served_only_what_settles_until_unlocked() {
    each_db("lock", |db| async move {
        let w = World::new(db, &[K1]).await;
        let hq = w.hq().await;
        let store = hq.shared.store.clone();
        let mut k = Kiosk::connect(hq.addr, &w.certs(), K1).await;
        let r = k
            .call(recharge("K0001-L-0", "13800000000", 100))
            .await
            .unwrap();
        assert!(matches!(r, Reply::Ok(_)));
        store
            .lock(
                "carol",
                &Target::Kiosk(K1.into()),
                "cash box audit",
                Some("暂停服务"),
            )
            .unwrap();
        let (id, p) = k.next_push().await.unwrap();
        assert!(matches!(&p, Push::Lock(l) if l.reason == "cash box audit"));
        k.ack(id, &p, AckOutcome::Applied, None, None)
            .await
            .unwrap();
        let r = k
            .call(recharge("K0001-L-1", "13800000000", 100))
            .await
            .unwrap();
        assert_eq!(code(&r), Some(ErrorCode::KioskLocked));
        // What settles open transactions still goes through, and a repeat of a transaction
        // applied before the lock still gets its first outcome.
        let r = k
            .call(Request::TxnStatus(TxnStatusQuery {
                txn_id: TxnId::new("K0001-L-0"),
            }))
            .await
            .unwrap();
        assert!(matches!(
            r,
            Reply::Ok(Response::TxnStatus(TxnStatus {
                state: TxnState::Committed,
                ..
            }))
        ));
        let r = k
            .call(recharge("K0001-L-0", "13800000000", 100))
            .await
            .unwrap();
        assert!(matches!(r, Reply::Ok(Response::Recharge(_))), "{r:?}");
        // The lock holds across a reconnect (in the hello answer).
        drop(k);
        let (mut k, hello) = Kiosk::hello(hq.addr, &w.certs(), K1, None).await;
        assert_eq!(
            hello.locked.as_ref().map(|l| l.reason.as_str()),
            Some("cash box audit")
        );
        store.unlock("carol", &Target::Kiosk(K1.into())).unwrap();
        loop {
            let (id, p) = k.next_push().await.unwrap();
            k.ack(id, &p, AckOutcome::Applied, None, None)
                .await
                .unwrap();
            if matches!(p, Push::Unlock(_)) {
                break;
            }
        }
        let r = k
            .call(recharge("K0001-L-2", "13800000000", 100))
            .await
            .unwrap();
        assert!(matches!(r, Reply::Ok(_)), "{r:?}");
        let audit = store.audit(10, Some("carol")).unwrap();
        assert_eq!(
            audit.iter().map(|a| a.action.as_str()).collect::<Vec<_>>(),
            ["unlock", "lock"]
        );
        assert_eq!(audit[1].target, "kiosk:K0001");
    })
    .await;
}

/// A lock the kiosk acknowledges `deferred` (a customer is being served) lets that
/// customer finish: the server keeps forwarding until a heartbeat says the kiosk is no
/// longer in service, then refuses new business.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_lock_lets_the_customer_finish_and_holds_once_the_kiosk_is_out_of_service() {
    each_db("deferred_lock", |db| async move {
        let w = World::new(db, &[K1]).await;
        let hq = w.hq().await;
        let store = hq.shared.store.clone();
        let mut k = Kiosk::connect(hq.addr, &w.certs(), K1).await;
        store
            .lock("carol", &Target::Kiosk(K1.into()), "maintenance", None)
            .unwrap();
        let (id, p) = k.next_push().await.unwrap();
        assert!(matches!(p, Push::Lock(_)));
        k.ack(
            id,
            &p,
            AckOutcome::Deferred,
            Some("locks when the current customer is done"),
            None,
        )
        .await
        .unwrap();
        // The customer at the kiosk goes on: still in service.
        let in_service = Heartbeat {
            kiosk_state: Some("in_service".into()),
            ..heartbeat("top_up.insert_cash")
        };
        let r = k.call(Request::Heartbeat(in_service)).await.unwrap();
        assert!(matches!(r, Reply::Ok(_)), "{r:?}");
        let r = k
            .call(recharge("K0001-D-1", "13800000000", 100))
            .await
            .unwrap();
        assert!(matches!(r, Reply::Ok(Response::Recharge(_))), "{r:?}");
        // The customer is done and the kiosk locked: the lock holds here too.
        let locked = Heartbeat {
            kiosk_state: Some("locked".into()),
            ..heartbeat("out_of_service")
        };
        let r = k.call(Request::Heartbeat(locked)).await.unwrap();
        assert!(matches!(r, Reply::Ok(_)), "{r:?}");
        let r = k
            .call(recharge("K0001-D-2", "13800000000", 100))
            .await
            .unwrap();
        assert_eq!(code(&r), Some(ErrorCode::KioskLocked));
        // The fleet view says what the kiosk said.
        let view = eventually("heartbeat stored", || {
            let v = store.kiosk(K1).unwrap();
            (v.kiosk_state.as_deref() == Some("locked")).then_some(v)
        })
        .await;
        assert!(view.locked);
        let pushes = store.pushes(K1, 10).unwrap();
        assert_eq!(pushes[0].outcome.as_deref(), Some("deferred"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_reach_the_kiosk_through_whichever_instance_holds_it() {
    each_db("two_instances", |db| async move {
        let w = World::new(db, &[K1, K2]).await;
        let a = w.hq().await;
        let b = w.hq().await;
        let mut k1 = Kiosk::connect(a.addr, &w.certs(), K1).await;
        let mut k2 = Kiosk::connect(b.addr, &w.certs(), K2).await;
        store_assign(&a, K1, "S01");
        store_assign(&a, K2, "S01");
        // Head office acts through instance B's store (or the CLI): the diagnostics request
        // for K0001 reaches it through A, K0002's through B.
        let q = b
            .shared
            .store
            .request_diagnostics("dave", &Target::Shop("S01".into()), &["versions".into()])
            .unwrap();
        assert_eq!(q.len(), 2);
        for k in [&mut k1, &mut k2] {
            let (id, p) = k.next_push().await.unwrap();
            assert!(matches!(&p, Push::DiagnosticsRequest(d) if d.items == ["versions"]));
            k.ack(
                id,
                &p,
                AckOutcome::Applied,
                None,
                Some(serde_json::json!({"versions": {"app": "1.0"}})),
            )
            .await
            .unwrap();
        }
        let store = a.shared.store.clone();
        let rows = eventually("diagnostics stored", || {
            let p = store.pushes(K1, 10).unwrap();
            p.first().and_then(|r| r.diagnostics.clone())
        })
        .await;
        assert_eq!(rows["versions"]["app"], "1.0");
        let fleet = eventually("both online", || {
            let f = store.fleet(Some("S01")).unwrap();
            f.iter().all(|k| k.online).then_some(f)
        })
        .await;
        assert_ne!(fleet[0].instance_id, fleet[1].instance_id);

        // One connection per kiosk: K0001 connecting to B replaces its connection on A.
        let mut k1b = Kiosk::connect(b.addr, &w.certs(), K1).await;
        let mut closed = false;
        for _ in 0..100 {
            if k1
                .call(Request::Heartbeat(heartbeat("idle")))
                .await
                .is_err()
            {
                closed = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(closed, "the older connection is closed");
        store
            .lock("dave", &Target::Kiosk(K1.into()), "test", None)
            .unwrap();
        let (_, p) = k1b.next_push().await.unwrap();
        assert!(matches!(p, Push::Lock(_)));
        let f = eventually("K0001 now on B", || {
            let f = store.kiosk(K1).unwrap();
            (f.instance_id.as_deref() == Some(b.shared.instance_id.as_str())).then_some(f)
        })
        .await;
        assert!(f.online && f.locked);
    })
    .await;
}

fn store_assign(r: &telekiosk_hq::app::Running, kiosk: &str, shop: &str) {
    r.shared.store.assign_shop("dave", kiosk, shop).unwrap();
}
