//! Input validation: passwords (length, breached list over a real loopback HTTP server,
//! zxcvbn), usernames, phone numbers and email addresses.
//!
//! Parity: Flask-Security's `PasswordUtil`, `UsernameUtil`, `PhoneUtil`, `MailUtil` and
//! their messages (`test_misc.py` breached/zxcvbn tests, `test_common.py` username tests).
#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use security_runtime::validation::{
    normalize_email, DefaultPasswordUtil, DefaultPhoneUtil, DefaultUsernameUtil, PasswordUtil,
    PhoneUtil, UsernameUtil,
};
use security_runtime::SecurityConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// SHA-1 (upper hex) of the passwords used below, computed outside the process under test.
const SHA1_PASSWORD: &str = "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8"; // "password"
const SHA1_BREACHED: &str = "709E837C6C2704ECC58B8495A80E25F6AEF32194"; // "Breached-But-Long-1"
const SHA1_UNLISTED: &str = "97132B4CA92EAC32BE0DFAF285B33FA4637E3BDF"; // "Unlisted-Passw0rd-xyz"
const SHA1_FIVE_FINGERS: &str = "FC237D364CAE467149A43B95B4FD0CE3B777773E"; // "five-fingers-long"

const BREACHED: &str = "Password on breached list";
const SITE_ERROR: &str = "Failed to contact breached passwords site";

fn cfg() -> SecurityConfig {
    SecurityConfig::default()
}

fn err(msg: &str) -> Result<String, Vec<String>> {
    Err(vec![msg.to_owned()])
}

// ---------------------------------------------------------------------------------------
// A k-anonymity range API on 127.0.0.1 that records every request it receives.
// ---------------------------------------------------------------------------------------

struct RangeServer {
    /// Base URL to put in `password_breached_url`.
    url: String,
    /// Raw bytes of every request received.
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl RangeServer {
    /// Serves `entries` (full upper-hex SHA-1, count) plus decoys; `status` other than 200
    /// answers every request with that status and no body.
    async fn start(entries: Vec<(&'static str, u64)>, status: u16) -> RangeServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let log = requests.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let entries = entries.clone();
                let log = log.clone();
                tokio::spawn(async move {
                    let mut raw = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !raw.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => raw.extend_from_slice(&buf[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&raw).into_owned();
                    log.lock().unwrap().push(raw);
                    let path = text.split_whitespace().nth(1).unwrap_or("").to_owned();
                    let (code, body) = match path.strip_prefix("/range/") {
                        Some(prefix) if status == 200 => {
                            let mut lines = vec![
                                // Decoys sharing no suffix with the passwords under test.
                                "0018A45C4D1DEF81644B54AB7F969B88D65:1".to_owned(),
                                "00D4F6E8FA6EECAD2A3AA415EEC418D38EC:2".to_owned(),
                            ];
                            for (hash, count) in &entries {
                                if hash[..5] == *prefix {
                                    lines.push(format!("{}:{count}", &hash[5..]));
                                }
                            }
                            ("200 OK".to_owned(), lines.join("\r\n"))
                        }
                        Some(_) => (format!("{status} Error"), String::new()),
                        None => ("404 Not Found".to_owned(), String::new()),
                    };
                    let reply = format!(
                        "HTTP/1.1 {code}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
                         Connection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(reply.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        RangeServer {
            url: format!("http://{addr}/range/"),
            requests,
        }
    }

    fn requests(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect()
    }

    /// Every request was `GET /range/<first five hex digits>` with Flask-Security's
    /// User-Agent, and neither the rest of the hash nor the password left the process.
    fn assert_only_prefix_sent(&self, sha1: &str, password: &str) {
        let reqs = self.requests();
        assert!(!reqs.is_empty(), "no request reached the range server");
        for raw in reqs {
            let request_line = raw.lines().next().unwrap();
            let path = request_line.split_whitespace().nth(1).unwrap();
            assert_eq!(request_line, format!("GET {path} HTTP/1.1"));
            let prefix = path.strip_prefix("/range/").unwrap();
            assert_eq!(prefix.len(), 5, "path {path}");
            assert!(prefix.chars().all(|c| c.is_ascii_hexdigit()));
            assert_eq!(prefix, &sha1[..5]);
            let upper = raw.to_ascii_uppercase();
            assert!(!upper.contains(&sha1[5..]), "hash suffix leaked: {raw}");
            assert!(!upper.contains(sha1), "full hash leaked: {raw}");
            assert!(!raw.contains(password), "password leaked: {raw}");
            assert!(
                raw.lines()
                    .any(|l| l.eq_ignore_ascii_case("user-agent: Flask-Security (Python)")),
                "missing User-Agent: {raw}"
            );
        }
    }
}

fn breached_cfg(url: &str, mode: &str) -> SecurityConfig {
    SecurityConfig {
        password_check_breached: mode.into(),
        password_breached_url: url.into(),
        ..cfg()
    }
}

/// `password` checked as a new password (no user inputs) under `cfg`, whose breached-list
/// lookup is what the test is about.
async fn check_breached(cfg: &SecurityConfig, password: &str) -> Result<String, Vec<String>> {
    DefaultPasswordUtil::new(cfg)
        .validate(password, true, &[])
        .await
}

/// A URL nothing listens on.
async fn dead_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}/range/")
}

#[tokio::test]
async fn breached_password_is_refused_and_only_the_prefix_leaves() {
    let server = RangeServer::start(vec![(SHA1_BREACHED, 3)], 200).await;
    let checked = check_breached(&breached_cfg(&server.url, "true"), "Breached-But-Long-1").await;
    assert_eq!(checked, err(BREACHED));
    assert_eq!(server.requests().len(), 1);
    server.assert_only_prefix_sent(SHA1_BREACHED, "Breached-But-Long-1");
}

#[tokio::test]
async fn unlisted_password_passes_after_a_prefix_only_lookup() {
    let server = RangeServer::start(vec![(SHA1_BREACHED, 3)], 200).await;
    let strict = breached_cfg(&server.url, "strict");
    let checked = check_breached(&strict, "Unlisted-Passw0rd-xyz").await;
    assert_eq!(checked, Ok("Unlisted-Passw0rd-xyz".to_owned()));
    server.assert_only_prefix_sent(SHA1_UNLISTED, "Unlisted-Passw0rd-xyz");
}

#[tokio::test]
async fn breached_count_threshold_is_inclusive() {
    let server = RangeServer::start(vec![(SHA1_BREACHED, 3)], 200).await;
    let mut c = breached_cfg(&server.url, "true");
    c.password_breached_count = 4;
    assert!(check_breached(&c, "Breached-But-Long-1").await.is_ok());
    c.password_breached_count = 3;
    assert_eq!(
        check_breached(&c, "Breached-But-Long-1").await,
        err(BREACHED)
    );
}

#[tokio::test]
async fn the_normalized_password_is_checked() {
    // "ﬁve-ﬁngers-long" normalises (NFKD) to "five-fingers-long", whose hash is listed.
    let server = RangeServer::start(vec![(SHA1_FIVE_FINGERS, 10)], 200).await;
    let checked = check_breached(&breached_cfg(&server.url, "true"), "ﬁve-ﬁngers-long").await;
    assert_eq!(checked, err(BREACHED));
    server.assert_only_prefix_sent(SHA1_FIVE_FINGERS, "five-fingers-long");
}

#[tokio::test]
async fn site_down_is_ignored_unless_strict() {
    let url = dead_url().await;
    let lenient = check_breached(&breached_cfg(&url, "true"), "Breached-But-Long-1").await;
    assert_eq!(lenient, Ok("Breached-But-Long-1".to_owned()));
    let strict = check_breached(&breached_cfg(&url, "strict"), "Breached-But-Long-1").await;
    assert_eq!(strict, err(SITE_ERROR));
}

#[tokio::test]
async fn site_error_status_is_ignored_unless_strict() {
    let server = RangeServer::start(vec![(SHA1_BREACHED, 3)], 503).await;
    let lenient = breached_cfg(&server.url, "true");
    assert!(check_breached(&lenient, "Breached-But-Long-1")
        .await
        .is_ok());
    let strict = breached_cfg(&server.url, "strict");
    let checked = check_breached(&strict, "Breached-But-Long-1").await;
    assert_eq!(checked, err(SITE_ERROR));
    server.assert_only_prefix_sent(SHA1_BREACHED, "Breached-But-Long-1");
}

#[tokio::test]
async fn no_lookup_when_disabled_or_when_length_fails_first() {
    let server = RangeServer::start(vec![(SHA1_PASSWORD, 9_000_000)], 200).await;
    let off = DefaultPasswordUtil::new(&breached_cfg(&server.url, "false"));
    assert!(off.validate("Breached-But-Long-1", true, &[]).await.is_ok());
    let on = DefaultPasswordUtil::new(&breached_cfg(&server.url, "true"));
    assert_eq!(
        on.validate("short", true, &[]).await,
        err("Password must be at least 8 characters")
    );
    assert!(server.requests().is_empty(), "{:?}", server.requests());
    // "password" has 8 characters: it reaches the breached check, which refuses it.
    assert_eq!(on.validate("password", true, &[]).await, err(BREACHED));
    server.assert_only_prefix_sent(SHA1_PASSWORD, "password");
}

// ---------------------------------------------------------------------------------------
// Length and normalisation.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn length_bounds_share_one_message() {
    let util = DefaultPasswordUtil::new(&cfg());
    let msg = "Password must be at least 8 characters";
    assert_eq!(util.validate("1234567", true, &[]).await, err(msg));
    assert_eq!(util.validate("", true, &[]).await, err(msg));
    assert!(util.validate("12345678", true, &[]).await.is_ok());
    let max = "x".repeat(128);
    assert_eq!(util.validate(&max, true, &[]).await, Ok(max.clone()));
    assert_eq!(util.validate(&"x".repeat(129), false, &[]).await, err(msg));
    // Characters, not bytes.
    assert!(util.validate("éééééééé", true, &[]).await.is_ok());

    let util = DefaultPasswordUtil::new(&SecurityConfig {
        password_length_min: 12,
        ..cfg()
    });
    assert_eq!(
        util.validate("elevenchars", true, &[]).await,
        err("Password must be at least 12 characters")
    );
}

#[tokio::test]
async fn passwords_are_normalized_before_counting() {
    let util = DefaultPasswordUtil::new(&cfg());
    // Four ligatures are four characters raw, eight after NFKD.
    assert_eq!(
        util.validate("ﬁﬁﬁﬁ", true, &[]).await,
        Ok("fifififi".to_owned())
    );
    assert_eq!(util.normalize("Å"), "A\u{30a}");
    let none = DefaultPasswordUtil::new(&SecurityConfig {
        password_normalize_form: String::new(),
        ..cfg()
    });
    assert_eq!(none.normalize("ﬁ"), "ﬁ");
}

// ---------------------------------------------------------------------------------------
// zxcvbn.
// ---------------------------------------------------------------------------------------

fn zxcvbn_util() -> DefaultPasswordUtil {
    DefaultPasswordUtil::new(&SecurityConfig {
        password_complexity_checker: Some("zxcvbn".into()),
        zxcvbn_minimum_score: 3,
        ..cfg()
    })
}

#[tokio::test]
async fn zxcvbn_refuses_common_passwords_with_its_warning() {
    let util = zxcvbn_util();
    let r = util.validate("password", true, &[]).await;
    assert_eq!(r, err("This is a top-10 common password."));
    // Without the checker the same password passes.
    assert!(DefaultPasswordUtil::new(&cfg())
        .validate("password", true, &[])
        .await
        .is_ok());
}

#[tokio::test]
async fn zxcvbn_without_a_warning_gives_password_too_simple() {
    let util = DefaultPasswordUtil::new(&SecurityConfig {
        password_complexity_checker: Some("zxcvbn".into()),
        password_length_min: 6,
        ..cfg()
    });
    // Short and random: weak, but no dictionary or pattern for zxcvbn to warn about.
    assert_eq!(
        util.validate("kx9#Qz", true, &[]).await,
        err("Password not complex enough")
    );
}

#[tokio::test]
async fn zxcvbn_accepts_a_long_random_passphrase() {
    let util = zxcvbn_util();
    let p = "vivid Quartz lantern 97 obtuse Marmot";
    assert_eq!(util.validate(p, true, &[]).await, Ok(p.to_owned()));
}

#[tokio::test]
async fn zxcvbn_penalises_user_inputs() {
    let util = zxcvbn_util();
    let email = "quintessa.vonharbinger@wexmoor.org";
    // Strong enough on its own...
    assert!(util.validate(email, true, &[]).await.is_ok());
    // ...but not when it is the user's own email.
    let r = util.validate(email, true, &[email.to_owned()]).await;
    assert!(r.is_err(), "{r:?}");
    let r = util
        .validate(
            email,
            false,
            &["QUINTESSA.vonharbinger@wexmoor.org".to_owned()],
        )
        .await;
    assert!(
        r.is_err(),
        "user inputs are compared case-insensitively: {r:?}"
    );
}

#[tokio::test]
async fn password_util_is_replaceable() {
    struct NoDigits;
    #[rocket::async_trait]
    impl PasswordUtil for NoDigits {
        fn normalize(&self, password: &str) -> String {
            password.to_owned()
        }
        async fn validate(&self, p: &str, _: bool, _: &[String]) -> Result<String, Vec<String>> {
            if p.chars().any(|c| c.is_ascii_digit()) {
                Err(vec!["no digits".into()])
            } else {
                Ok(p.into())
            }
        }
    }
    let utils: Vec<Box<dyn PasswordUtil>> = vec![
        Box::new(NoDigits),
        Box::new(DefaultPasswordUtil::new(&cfg())),
    ];
    assert_eq!(utils[0].validate("abc1", true, &[]).await, err("no digits"));
    assert!(utils[1].validate("abc12345", true, &[]).await.is_ok());
}

// ---------------------------------------------------------------------------------------
// Usernames.
// ---------------------------------------------------------------------------------------

const DISALLOWED: &str = "Username can contain only letters and numbers";
const INVALID_INPUT: &str = "Value entered is not valid for the field";
const LENGTH_4_32: &str = "Username must be at least 4 characters and less than 32 characters";

#[test]
fn usernames_accept_letters_and_numbers_of_any_script() {
    let u = DefaultUsernameUtil::new(&cfg());
    assert_eq!(u.validate("joe1"), Ok("joe1".to_owned()));
    assert_eq!(u.validate("  Joe1234 "), Ok("Joe1234".to_owned()));
    assert_eq!(u.validate("Jürgen"), Ok("Ju\u{308}rgen".to_owned()));
    assert_eq!(u.validate("ｊｏｅ１２"), Ok("joe12".to_owned()));
    assert_eq!(
        u.validate("日本語です"),
        Ok("日本語て\u{3099}す".to_owned())
    );
    assert_eq!(u.validate("٣٤٥٦"), Ok("٣٤٥٦".to_owned()));
    assert_eq!(u.validate("ⅫⅫⅫⅫ"), Ok("XIIXIIXIIXII".to_owned()));
}

#[test]
fn usernames_refuse_other_characters() {
    let u = DefaultUsernameUtil::new(&cfg());
    let bad_names = [
        "joe_doe",
        "joe doe",
        "joe.doe",
        "joe-doe",
        "joe@lp.com",
        "joe\u{301}abc",
        "Ⓐbcde",
        "joe\u{200b}doe",
        "joe\tdoe",
        "🙂joey",
    ];
    for bad in bad_names {
        assert_eq!(u.validate(bad), Err(DISALLOWED.to_owned()), "{bad:?}");
    }
}

#[test]
fn usernames_refuse_html() {
    let markup = [
        "<b>joe</b>",
        "joe<script>",
        "joe&amp;",
        "a>b12",
        "joe\u{a0}doe",
    ];
    let u = DefaultUsernameUtil::new(&cfg());
    for bad in markup {
        assert_eq!(u.validate(bad), Err(INVALID_INPUT.to_owned()), "{bad:?}");
    }
    assert_eq!(u.normalize("<i>x</i>"), None);
    assert_eq!(u.normalize(" Ｊoe "), Some("Joe".to_owned()));
}

#[test]
fn username_length_is_checked_after_normalisation() {
    let u = DefaultUsernameUtil::new(&cfg());
    assert_eq!(u.validate("abc"), Err(LENGTH_4_32.to_owned()));
    assert_eq!(u.validate("   "), Err(LENGTH_4_32.to_owned()));
    assert!(u.validate(&"a".repeat(32)).is_ok());
    assert_eq!(u.validate(&"a".repeat(33)), Err(LENGTH_4_32.to_owned()));
    // Three characters, four after NFKD.
    assert_eq!(u.validate("abé"), Ok("abe\u{301}".to_owned()));
    assert_eq!(
        u.validate(""),
        Err("Username not provided".to_owned()),
        "an empty username is not a username"
    );
    let custom = DefaultUsernameUtil::new(&SecurityConfig {
        username_min_length: 2,
        username_max_length: 5,
        ..cfg()
    });
    assert_eq!(custom.validate("ab"), Ok("ab".to_owned()));
    assert_eq!(
        custom.validate("abcdef"),
        Err("Username must be at least 2 characters and less than 5 characters".to_owned())
    );
}

// ---------------------------------------------------------------------------------------
// Phone numbers.
// ---------------------------------------------------------------------------------------

const PHONE_INVALID: &str = "Phone number not valid e.g. missing country code";

#[test]
fn phone_numbers_become_e164() {
    let p = DefaultPhoneUtil::new(&cfg());
    assert_eq!(
        p.get_canonical_form("+1 650-253-0000").as_deref(),
        Some("+16502530000")
    );
    assert_eq!(
        p.get_canonical_form("(650) 253-0000").as_deref(),
        Some("+16502530000")
    );
    assert_eq!(
        p.validate_phone_number("+41 44 668 18 00"),
        Ok("+41446681800".to_owned())
    );
    assert_eq!(
        p.get_canonical_form("+44 20 7031 3000").as_deref(),
        Some("+442070313000")
    );
}

#[test]
fn phone_region_default_reads_national_numbers() {
    let gb = DefaultPhoneUtil::new(&SecurityConfig {
        phone_region_default: "GB".into(),
        ..cfg()
    });
    assert_eq!(
        gb.get_canonical_form("020 7031 3000").as_deref(),
        Some("+442070313000")
    );
    // Not a GB number without its country code.
    assert_eq!(
        gb.validate_phone_number("650-253-0000"),
        Err(PHONE_INVALID.to_owned())
    );
}

#[test]
fn invalid_phone_numbers_give_phone_invalid() {
    let p = DefaultPhoneUtil::new(&cfg());
    for bad in [
        "",
        "abc",
        "12",
        "+1 555",
        "+999 1234567",
        "555-1234",
        "+1 650-253-0000-0000-0000",
        "+(((((",
        "+",
        "++1",
        "0",
        "\u{0}",
    ] {
        assert_eq!(
            p.validate_phone_number(bad),
            Err(PHONE_INVALID.to_owned()),
            "{bad:?}"
        );
        assert_eq!(p.get_canonical_form(bad), None, "{bad:?}");
    }
    assert_eq!(p.get_canonical_form(&"1".repeat(10_000)), None);
}

// ---------------------------------------------------------------------------------------
// Email addresses.
// ---------------------------------------------------------------------------------------

#[test]
fn emails_are_trimmed_and_their_domain_lowercased() {
    for (given, normalized) in [
        ("matt@lp.com", "matt@lp.com"),
        (" Matt@LP.Com\n", "Matt@lp.com"),
        (
            "first.last+tag@sub.Example.ORG",
            "first.last+tag@sub.example.org",
        ),
        ("o'neil@lp.com", "o'neil@lp.com"),
        ("jörg@bücher.de", "jörg@bücher.de"),
        ("x@BÜCHER.de", "x@bücher.de"),
    ] {
        assert_eq!(
            normalize_email(given).as_deref(),
            Ok(normalized),
            "{given:?}"
        );
    }
}

#[test]
fn bad_emails_are_refused() {
    let long_local = format!("{}@lp.com", "a".repeat(65));
    let long_total = format!("{}@{}.com", "a".repeat(60), "b".repeat(200));
    for bad in [
        "",
        "   ",
        "matt",
        "matt@",
        "@lp.com",
        "matt@lp",
        "matt@@lp.com",
        "ma tt@lp.com",
        "matt@lp.com\r\nBcc: victim@lp.com",
        "matt\n@lp.com",
        "-matt@lp.com",
        "--help",
        ".matt@lp.com",
        "matt.@lp.com",
        "ma..tt@lp.com",
        "matt@lp..com",
        "matt@-lp.com",
        "matt@lp-.com",
        "matt@lp.com.",
        "matt@l_p.com",
        "matt@[127.0.0.1]",
        "\"matt\"@lp.com",
        "Matt <matt@lp.com>",
        "matt@localhost",
        "matt@example.test",
        "matt@host.local",
        "matt@1.2.3.4",
        "matt@x.invalid",
        "matt<script>@lp.com",
        "matt@lp.com\u{0}",
        long_local.as_str(),
        long_total.as_str(),
    ] {
        assert_eq!(
            normalize_email(bad),
            Err("Invalid email address".to_owned()),
            "{bad:?}"
        );
    }
}

#[test]
fn utilities_are_object_safe() {
    let c = cfg();
    let u: Box<dyn UsernameUtil> = Box::new(DefaultUsernameUtil::new(&c));
    let p: Box<dyn PhoneUtil> = Box::new(DefaultPhoneUtil::new(&c));
    assert!(u.validate("abcd").is_ok());
    assert!(p.get_canonical_form("+16502530000").is_some());
}
