//! Every `UserDatastore` method on SQLite, and on PostgreSQL and MariaDB when their URLs
//! are set: the same test code for each.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use security_runtime::{NewUser, SecurityError, UserQuery};
use security_tests::{backends, TestApp};

#[rocket::async_test]
async fn users_roles_and_permissions() {
    for b in backends() {
        let app = TestApp::new(b).await;
        let ds = app.datastore();
        // create / find role
        let mut admin = ds
            .create_role("admin", Some("Administrators"), &["read".into()])
            .await
            .unwrap();
        assert_eq!(admin.permissions, vec!["read".to_string()]);
        assert!(matches!(
            ds.create_role("admin", None, &[]).await,
            Err(SecurityError::AlreadyExists { what: "role" })
        ));
        let again = ds.find_or_create_role("admin", &[]).await.unwrap();
        assert_eq!(again.id, admin.id, "{b:?}");
        let editor = ds
            .find_or_create_role("editor", &["write".into()])
            .await
            .unwrap();
        assert_ne!(editor.id, admin.id);
        assert!(ds.find_role("nobody").await.unwrap().is_none());
        assert_eq!(ds.all_roles().await.unwrap().len(), 2);

        // permissions
        assert!(ds
            .add_permissions_to_role(&mut admin, &["write".into(), "read".into()])
            .await
            .unwrap());
        assert_eq!(admin.permissions, vec!["read", "write"]);
        assert!(!ds
            .add_permissions_to_role(&mut admin, &["read".into()])
            .await
            .unwrap());
        assert!(ds
            .remove_permissions_from_role(&mut admin, &["read".into()])
            .await
            .unwrap());
        let stored = ds.find_role("admin").await.unwrap().unwrap();
        assert_eq!(stored.permissions, vec!["write"], "{b:?}");

        // create / find user
        let mut u = ds
            .create_user(NewUser {
                email: "Matt@LP.com".into(),
                username: Some("matt".into()),
                password: Some("hash".into()),
                roles: vec!["admin".into()],
                ..NewUser::default()
            })
            .await
            .unwrap();
        assert!(u.active);
        assert_eq!(u.fs_uniquifier.len(), 32);
        assert!(u.has_role("admin") && u.has_permission("write") && !u.has_permission("read"));
        let found = ds
            .find_user(&UserQuery::Email("matt@lp.com".into()), true)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.id, u.id);
        assert_eq!(found.roles.len(), 1);
        assert!(
            ds.find_user(&UserQuery::Email("matt@lp.com".into()), false)
                .await
                .unwrap()
                .is_none()
                || b == security_tests::Backend::MySql, // MariaDB's default collation is case-insensitive
            "{b:?}"
        );
        for q in [
            UserQuery::Id(u.id),
            UserQuery::Username("MATT".into()),
            UserQuery::FsUniquifier(u.fs_uniquifier.clone()),
        ] {
            let ci = matches!(q, UserQuery::Username(_));
            assert_eq!(
                ds.find_user(&q, ci).await.unwrap().unwrap().id,
                u.id,
                "{q:?}"
            );
        }
        // duplicate email → clear error, one row
        let dup = ds
            .create_user(NewUser {
                email: "Matt@LP.com".into(),
                ..NewUser::default()
            })
            .await;
        assert!(
            matches!(dup, Err(SecurityError::AlreadyExists { what: "user" })),
            "{dup:?}"
        );
        // unknown role → nothing written
        let bad = ds
            .create_user(NewUser {
                email: "ghost@lp.com".into(),
                roles: vec!["no-such-role".into()],
                ..NewUser::default()
            })
            .await;
        assert!(matches!(bad, Err(SecurityError::NotFound { what: "role" })));
        assert!(
            ds.find_user(&UserQuery::Email("ghost@lp.com".into()), true)
                .await
                .unwrap()
                .is_none(),
            "{b:?}: half-written user"
        );

        // roles on users
        assert!(ds.add_role_to_user(&mut u, "editor").await.unwrap());
        assert!(!ds.add_role_to_user(&mut u, "editor").await.unwrap());
        assert!(matches!(
            ds.add_role_to_user(&mut u, "nope").await,
            Err(SecurityError::NotFound { .. })
        ));
        assert_eq!(u.roles.len(), 2);
        assert!(ds.remove_role_from_user(&mut u, "admin").await.unwrap());
        assert!(!ds.remove_role_from_user(&mut u, "admin").await.unwrap());
        let reloaded = ds
            .find_user(&UserQuery::Id(u.id), false)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            reloaded
                .roles
                .iter()
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>(),
            vec!["editor"]
        );

        // active flags
        assert!(ds.deactivate_user(&mut u).await.unwrap());
        assert!(!ds.deactivate_user(&mut u).await.unwrap());
        assert!(
            !ds.find_user(&UserQuery::Id(u.id), false)
                .await
                .unwrap()
                .unwrap()
                .active
        );
        assert!(ds.toggle_active(&mut u).await.unwrap());
        assert!(u.active);
        assert!(!ds.activate_user(&mut u).await.unwrap());

        // uniquifiers
        let old = u.fs_uniquifier.clone();
        ds.set_uniquifier(&mut u, None).await.unwrap();
        assert_ne!(u.fs_uniquifier, old);
        ds.set_uniquifier(&mut u, Some("fixed-uniq".into()))
            .await
            .unwrap();
        assert_eq!(
            ds.find_user(&UserQuery::FsUniquifier("fixed-uniq".into()), false)
                .await
                .unwrap()
                .unwrap()
                .id,
            u.id
        );
        assert!(u.fs_token_uniquifier.is_none());
        ds.set_token_uniquifier(&mut u, None).await.unwrap();
        let tu = u.fs_token_uniquifier.clone().unwrap();
        assert_eq!(u.token_uniquifier(), tu);
        assert_eq!(
            ds.find_user(&UserQuery::FsTokenUniquifier(tu), false)
                .await
                .unwrap()
                .unwrap()
                .id,
            u.id
        );

        // two-factor and unified sign-in columns
        ds.tf_set(&mut u, "authenticator", Some("SECRET"), None)
            .await
            .unwrap();
        let r = ds
            .find_user(&UserQuery::Id(u.id), false)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.tf_primary_method.as_deref(), Some("authenticator"));
        assert_eq!(r.tf_totp_secret.as_deref(), Some("SECRET"));
        ds.tf_reset(&mut u).await.unwrap();
        assert!(ds
            .find_user(&UserQuery::Id(u.id), false)
            .await
            .unwrap()
            .unwrap()
            .tf_totp_secret
            .is_none());
        ds.us_set(&mut u, "sms", Some("S1"), Some("+16505551212"))
            .await
            .unwrap();
        ds.us_set(&mut u, "authenticator", Some("S2"), None)
            .await
            .unwrap();
        let r = ds
            .find_user(&UserQuery::UsPhoneNumber("+16505551212".into()), false)
            .await
            .unwrap()
            .unwrap();
        let secrets = ds.us_get_totp_secrets(&r);
        assert_eq!(secrets.get("sms").map(String::as_str), Some("S1"));
        assert_eq!(secrets.get("authenticator").map(String::as_str), Some("S2"));
        ds.us_reset(&mut u, Some("sms")).await.unwrap();
        let r = ds
            .find_user(&UserQuery::Id(u.id), false)
            .await
            .unwrap()
            .unwrap();
        assert!(r.us_phone_number.is_none());
        assert_eq!(ds.us_get_totp_secrets(&r).len(), 1);
        let mut m = BTreeMap::new();
        m.insert("email".to_string(), "S3".to_string());
        ds.us_put_totp_secrets(&mut u, Some(&m)).await.unwrap();
        assert_eq!(ds.us_get_totp_secrets(&u), m);
        ds.us_put_totp_secrets(&mut u, None).await.unwrap();
        ds.us_set(&mut u, "sms", Some("S1"), Some("+16505551212"))
            .await
            .unwrap();
        ds.us_reset(&mut u, None).await.unwrap();
        let r = ds
            .find_user(&UserQuery::Id(u.id), false)
            .await
            .unwrap()
            .unwrap();
        assert!(r.us_totp_secrets.is_none() && r.us_phone_number.is_none());

        // reset_user_access rotates both uniquifiers and clears MFA in one write
        ds.tf_set(&mut u, "email", None, None).await.unwrap();
        let (a, t) = (u.fs_uniquifier.clone(), u.fs_token_uniquifier.clone());
        ds.reset_user_access(&mut u).await.unwrap();
        let r = ds
            .find_user(&UserQuery::Id(u.id), false)
            .await
            .unwrap()
            .unwrap();
        assert_ne!(r.fs_uniquifier, a);
        assert_ne!(r.fs_token_uniquifier, t);
        assert!(r.tf_primary_method.is_none());
        assert_eq!(r, u, "{b:?}: in-memory copy matches the row");

        // delete
        ds.delete_user(&u).await.unwrap();
        assert!(ds
            .find_user(&UserQuery::Id(u.id), false)
            .await
            .unwrap()
            .is_none());
        assert!(matches!(
            ds.delete_user(&u).await,
            Err(SecurityError::NotFound { .. })
        ));
        ds.ping().await.unwrap();
    }
}

#[rocket::async_test]
async fn a_user_with_twenty_roles_is_read_whole() {
    for b in backends() {
        let app = TestApp::new(b).await;
        let ds = app.datastore();
        let mut names = Vec::new();
        for i in (0..20).rev() {
            let name = format!("role-{i:02}");
            let perms = vec![format!("p{i}"), "shared".to_owned()];
            let desc = format!("Role \"{i}\", with 'quotes' & commas, and é");
            ds.create_role(&name, Some(&desc), &perms).await.unwrap();
            names.push(name);
        }
        let user = ds
            .create_user(NewUser {
                email: "many@example.com".into(),
                roles: names.clone(),
                ..NewUser::default()
            })
            .await
            .unwrap();
        let q = UserQuery::FsUniquifier(user.fs_uniquifier.clone());
        let found = ds.find_user(&q, false).await.unwrap().unwrap();
        let got: Vec<&str> = found.roles.iter().map(|r| r.name.as_str()).collect();
        names.sort();
        assert_eq!(got, names, "{b:?}: sorted by name, all of them");
        let r7 = found.roles.iter().find(|r| r.name == "role-07").unwrap();
        assert_eq!(r7.permissions, ["p7", "shared"], "{b:?}");
        assert_eq!(
            r7.description.as_deref(),
            Some("Role \"7\", with 'quotes' & commas, and é"),
            "{b:?}"
        );
        let stored = ds.find_role("role-07").await.unwrap().unwrap();
        assert_eq!(r7, &stored, "{b:?}: the same role as read on its own");
        // A user without roles.
        let none = ds
            .create_user(NewUser {
                email: "none@example.com".into(),
                ..NewUser::default()
            })
            .await
            .unwrap();
        let q = UserQuery::Id(none.id);
        assert!(ds
            .find_user(&q, false)
            .await
            .unwrap()
            .unwrap()
            .roles
            .is_empty());
    }
}

#[rocket::async_test]
async fn concurrent_creates_of_one_email_leave_one_row() {
    for b in backends() {
        let app = TestApp::new(b).await;
        let ds = app.datastore();
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let ds = ds.clone();
            tasks.push(rocket::tokio::spawn(async move {
                ds.create_user(NewUser {
                    email: "race@lp.com".into(),
                    ..NewUser::default()
                })
                .await
            }));
        }
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => ok += 1,
                Err(SecurityError::AlreadyExists { what: "user" }) => {}
                // SQLite may report a busy database under write contention.
                Err(SecurityError::Datastore(e)) if b == security_tests::Backend::Sqlite => {
                    assert!(
                        e.to_string().contains("locked") || e.to_string().contains("busy"),
                        "{e}"
                    )
                }
                Err(e) => panic!("{b:?}: unexpected error {e:?}"),
            }
        }
        assert_eq!(ok, 1, "{b:?}");
        assert!(ds
            .find_user(&UserQuery::Email("race@lp.com".into()), false)
            .await
            .unwrap()
            .is_some());
    }
}

#[rocket::async_test]
async fn webauthn_credentials_are_stored_found_used_once_and_deleted() {
    use security_runtime::datastore::{CredentialUse, NewCredential};
    for b in backends() {
        let app = TestApp::new(b).await;
        let user = app
            .user("wan@example.com", "a strong pass phrase", &[])
            .await;
        let store = app.datastore().webauthn_store().unwrap();
        let now = security_runtime::chrono::Utc::now().naive_utc();
        let new = NewCredential {
            user_id: user.id,
            name: "laptop".into(),
            credential_id: vec![0, 1, 2, 255],
            public_key: vec![0xa5, 1, 2, 3, 0x26],
            sign_count: 3,
            transports: vec!["internal".into(), "hybrid".into()],
            backup_state: false,
            device_type: "single_device".into(),
            extensions: Some("{}".into()),
            usage: "secondary".into(),
            now,
        };
        let made = store.create_credential(&new).await.unwrap();
        assert_eq!(made.credential_id, new.credential_id, "{b:?}");
        assert_eq!(made.transports, new.transports);
        assert!(matches!(
            store.create_credential(&new).await,
            Err(SecurityError::AlreadyExists { .. })
        ));
        let found = store
            .find_credential(&[0, 1, 2, 255])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found, made);
        assert!(store.find_credential(&[9]).await.unwrap().is_none());
        // A use checked against counter 3 is recorded once: a second use that saw 3 too
        // (a replay racing it) is refused.
        let used = CredentialUse {
            seen_sign_count: 3,
            sign_count: 4,
            backup_state: true,
            now,
        };
        assert!(store.record_use(made.id, &used).await.unwrap(), "{b:?}");
        assert!(!store.record_use(made.id, &used).await.unwrap(), "{b:?}");
        let after = store.credentials_of(user.id).await.unwrap();
        assert_eq!((after[0].sign_count, after[0].backup_state), (4, true));
        assert!(!store.delete_credential(user.id, "phone").await.unwrap());
        assert!(store.delete_credential(user.id, "laptop").await.unwrap());
        assert!(store.credentials_of(user.id).await.unwrap().is_empty());
    }
}

/// A write the database rolls back as a deadlock victim or a serialization failure
/// (SQLSTATE 40001: InnoDB picks such victims among parallel single-use writes of one
/// user) runs again instead of failing the request, three times at most. On PostgreSQL a
/// trigger refuses attempts with that code (a sequence counts them: it survives the
/// rollback).
#[rocket::async_test]
async fn a_write_rolled_back_as_a_deadlock_victim_runs_again() {
    use security_runtime::{SqlDatastore, UserDatastore};
    use security_tests::{fresh_database, Backend};
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let url = fresh_database(Backend::Postgres).await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let ds = SqlDatastore::from(pool.clone());
    ds.migrate().await.unwrap();
    let mut user = ds
        .create_user(NewUser {
            email: "victim@lp.com".into(),
            ..NewUser::default()
        })
        .await
        .unwrap();
    sqlx::raw_sql(
        "CREATE SEQUENCE attempts MINVALUE -1000 START 1;
         CREATE FUNCTION refuse_twice() RETURNS trigger AS $$ BEGIN
           IF nextval('attempts') <= 2 THEN
             RAISE EXCEPTION 'chosen as the victim' USING ERRCODE = '40001';
           END IF;
           RETURN NEW;
         END $$ LANGUAGE plpgsql;
         CREATE TRIGGER refuse_twice BEFORE UPDATE ON \"user\"
           FOR EACH ROW EXECUTE FUNCTION refuse_twice();",
    )
    .execute(&pool)
    .await
    .unwrap();
    let attempts = || async {
        let n: i64 = sqlx::query_scalar("SELECT last_value FROM attempts")
            .fetch_one(&pool)
            .await
            .unwrap();
        n
    };
    // Refused twice, written on the third attempt.
    user.username = Some("victim".into());
    ds.put_user(&mut user).await.unwrap();
    assert_eq!(attempts().await, 3);
    let stored = ds
        .find_user(&UserQuery::Email("victim@lp.com".into()), false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.username.as_deref(), Some("victim"));
    // Refused every time: the fourth refusal is the caller's error.
    sqlx::query("SELECT setval('attempts', -100)")
        .execute(&pool)
        .await
        .unwrap();
    user.username = Some("never".into());
    let err = ds.put_user(&mut user).await.unwrap_err();
    assert!(matches!(err, SecurityError::Datastore(_)), "{err:?}");
    assert_eq!(attempts().await, -96);
}
