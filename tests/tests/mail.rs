//! The mailer against a real SMTP server on loopback ([`SmtpSink`]).
#![allow(missing_docs, clippy::unwrap_used)]

use std::time::Duration;

use security_runtime::mail::{
    mailer_from_config, MailError, MailMessage, MailTemplates, MailUtil, SmtpMailer,
};
use security_runtime::SecurityConfig;
use security_tests::smtp::{ReceivedMail, SmtpSink};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const WAIT: Duration = Duration::from_secs(5);
/// How long to watch a sink that must stay empty.
const QUIET: Duration = Duration::from_millis(300);

fn config(sink: &SmtpSink) -> SecurityConfig {
    SecurityConfig {
        mail_server: Some("127.0.0.1".into()),
        mail_port: sink.port(),
        mail_security: "none".into(),
        mail_timeout: 5,
        email_sender: "no-reply@example.com".into(),
        ..SecurityConfig::default()
    }
}

/// A long token, so that lettre has to wrap (quoted-printable) the link.
fn token() -> String {
    format!("IjEi.{}.Zo8_-k", "aB3".repeat(40))
}

fn reset_ctx(username: &str) -> serde_json::Value {
    let token = token();
    json!({
        "user": {"email": "user@example.com", "username": username},
        "reset_link": format!("https://app.example.com/reset/{token}?a=1&b=2"),
        "reset_token": token,
        "within": "1 day",
    })
}

async fn send_reset(
    cfg: &SecurityConfig,
    to: &str,
    subject: &str,
    username: &str,
) -> Result<(), MailError> {
    let (text, html) =
        MailTemplates::new(cfg)?.render("reset_instructions", &reset_ctx(username), cfg)?;
    let mailer = SmtpMailer::from_config(cfg)?;
    mailer
        .send(MailMessage {
            to: to.into(),
            subject: subject.into(),
            template: "reset_instructions".into(),
            text,
            html,
        })
        .await
}

/// Asserts the envelope's recipients are exactly `[rcpt]`, and each `(name, value)` header.
fn assert_delivered(mail: &ReceivedMail, rcpt: &str, headers: &[(&str, &str)]) {
    assert_eq!(mail.rcpt_to, vec![rcpt.to_owned()]);
    for (name, value) in headers {
        assert_eq!(mail.header(name).as_deref(), Some(*value), "{name}");
    }
}

fn only_one(mails: Vec<ReceivedMail>) -> ReceivedMail {
    assert_eq!(mails.len(), 1, "{mails:#?}");
    mails.into_iter().next().unwrap()
}

#[tokio::test]
async fn smtp_sends_reset_instructions_with_text_and_html() {
    let sink = SmtpSink::start().await;
    let cfg = config(&sink);
    send_reset(
        &cfg,
        "user@example.com",
        &cfg.email_subject_password_reset,
        "ann",
    )
    .await
    .unwrap();

    let mail = only_one(sink.wait_for(1, WAIT).await);
    assert_eq!(mail.mail_from, "no-reply@example.com");
    let headers = [
        ("From", "no-reply@example.com"),
        ("To", "user@example.com"),
        ("Subject", "Password reset instructions"),
    ];
    assert_delivered(&mail, "user@example.com", &headers);
    assert!(mail
        .header("Content-Type")
        .unwrap()
        .starts_with("multipart/alternative"));

    let link = format!("https://app.example.com/reset/{}?a=1&b=2", token());
    let text = mail.part("text/plain").expect("text part");
    assert!(
        text.contains("Click the link below to reset your password:"),
        "{text}"
    );
    assert!(text.contains(&link), "{text}");
    assert!(text.contains("This link will expire in 1 day."), "{text}");
    let html = mail.part("text/html").expect("html part");
    // Autoescaped as MarkupSafe does: `&` becomes `&amp;`, `/` stays.
    let escaped = link.replace('&', "&amp;");
    assert!(html.contains(&format!("<a href=\"{escaped}\">")), "{html}");
    assert!(mail.body_text().contains(&link));
}

#[tokio::test]
async fn html_off_sends_only_text() {
    let sink = SmtpSink::start().await;
    let cfg = SecurityConfig {
        email_html: false,
        ..config(&sink)
    };
    send_reset(&cfg, "user@example.com", "Reset", "ann")
        .await
        .unwrap();
    let mail = only_one(sink.wait_for(1, WAIT).await);
    let parts = mail.parts();
    assert_eq!(parts.len(), 1, "{parts:#?}");
    assert_eq!(parts[0].content_type, "text/plain");
    assert!(parts[0].body.contains(&token()));
    assert!(!mail.data.contains("multipart"));
}

#[tokio::test]
async fn refusing_server_is_a_transport_error() {
    let sink = SmtpSink::start_refusing().await;
    let err = send_reset(&config(&sink), "user@example.com", "Reset", "ann")
        .await
        .unwrap_err();
    assert!(matches!(err, MailError::Transport(_)), "{err:?}");
    assert!(err.to_string().contains("rejected"), "{err}");
    assert!(sink.received().is_empty());
}

#[tokio::test]
async fn silent_server_times_out_as_a_transport_error() {
    // A listener that never accepts: the TCP connect succeeds, the 220 greeting never comes.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let cfg = SecurityConfig {
        mail_server: Some("127.0.0.1".into()),
        mail_port: silent.local_addr().unwrap().port(),
        mail_timeout: 1,
        ..SecurityConfig::default()
    };
    let started = std::time::Instant::now();
    let err = send_reset(&cfg, "user@example.com", "Reset", "ann")
        .await
        .unwrap_err();
    assert!(matches!(err, MailError::Transport(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "mail_timeout ignored"
    );
    drop(silent);
}

#[tokio::test]
async fn header_injection_never_reaches_the_server() {
    let sink = SmtpSink::start().await;
    let cfg = config(&sink);
    for (to, subject) in [
        ("user@example.com\r\nBcc: victim@example.com", "Reset"),
        ("user@example.com\nBcc: victim@example.com", "Reset"),
        ("user@example.com\r", "Reset"),
        ("user@example.com", "Reset\r\nBcc: victim@example.com"),
        ("user@example.com", "Reset\nX-Evil: 1"),
        ("-oQ@example.com", "Reset"),
        ("user@example.com", "-Reset"),
        ("user@@example.com", "Reset"),
        ("not an address", "Reset"),
    ] {
        let err = send_reset(&cfg, to, subject, "ann").await.unwrap_err();
        assert!(
            matches!(err, MailError::Invalid(_)),
            "{to:?} {subject:?}: {err:?}"
        );
    }
    assert!(sink.wait_for(1, QUIET).await.is_empty());
}

#[tokio::test]
async fn template_dir_overrides_a_builtin() {
    let dir = std::env::temp_dir().join(format!("security-mail-{:016x}", rand::random::<u64>()));
    let email_dir = dir.join("security").join("email");
    std::fs::create_dir_all(&email_dir).unwrap();
    std::fs::write(
        email_dir.join("reset_instructions.txt"),
        "Custom reset for {{ user.email }}: {{ reset_link }} ({{ _fsdomain('valid %(w)s', w=within) }})",
    )
    .unwrap();
    std::fs::write(email_dir.join("new_mail.txt"), "new {{ x }}").unwrap();
    std::fs::write(email_dir.join("new_mail.html"), "<i>{{ x }}</i>").unwrap();

    let sink = SmtpSink::start().await;
    let cfg = SecurityConfig {
        mail_templates_dir: Some(dir.to_string_lossy().into_owned()),
        ..config(&sink)
    };
    send_reset(&cfg, "user@example.com", "Reset", "ann")
        .await
        .unwrap();
    let mail = only_one(sink.wait_for(1, WAIT).await);
    let text = mail.part("text/plain").unwrap();
    assert!(
        text.starts_with("Custom reset for user@example.com: https://app.example.com/reset/"),
        "{text}"
    );
    assert!(text.ends_with("(valid 1 day)"), "{text}");
    // The html template was not overridden.
    let html = mail.part("text/html").unwrap();
    assert!(html.contains("Click the link below to reset your password:"));

    // The folder can add templates of new names, escaped per extension.
    let t = MailTemplates::new(&cfg).unwrap();
    let (text, html) = t.render("new_mail", &json!({"x": "<b>"}), &cfg).unwrap();
    assert_eq!(text.as_deref(), Some("new <b>"));
    assert_eq!(html.as_deref(), Some("<i>&lt;b&gt;</i>"));

    // A syntax error in an override fails at start-up, not at the first mail.
    std::fs::write(email_dir.join("reset_notice.html"), "{% if %}").unwrap();
    assert!(matches!(
        MailTemplates::new(&cfg),
        Err(MailError::Template(_))
    ));
    // A configured folder that does not exist is an error too.
    let missing = SecurityConfig {
        mail_templates_dir: Some(dir.join("nope").to_string_lossy().into_owned()),
        ..SecurityConfig::default()
    };
    assert!(matches!(
        MailTemplates::new(&missing),
        Err(MailError::Template(_))
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn html_autoescapes_the_username() {
    let sink = SmtpSink::start().await;
    let cfg = config(&sink);
    let evil = "<script>alert(1)</script>";
    let ctx = json!({
        "user": {"email": "user@example.com", "username": evil},
        "reset_link": "https://app.example.com/reset/T",
        "reset_token": "T",
    });
    let (text, html) = MailTemplates::new(&cfg)
        .unwrap()
        .render("welcome_existing", &ctx, &cfg)
        .unwrap();
    let html = html.unwrap();
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&lt;script&gt;"), "{html}");
    // Plain text is not HTML: it keeps the name as typed.
    assert!(text.as_deref().unwrap().contains(evil));

    let mailer = mailer_from_config(&cfg).unwrap();
    mailer
        .send(MailMessage {
            to: "user@example.com".into(),
            subject: cfg.email_subject_register.clone(),
            template: "welcome_existing".into(),
            text,
            html: Some(html),
        })
        .await
        .unwrap();
    let mail = only_one(sink.wait_for(1, WAIT).await);
    assert_eq!(mail.header("Subject").as_deref(), Some("Welcome"));
    let html = mail.part("text/html").unwrap();
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script>"));
}

#[tokio::test]
async fn non_ascii_bodies_and_subjects_survive_the_encoding() {
    let sink = SmtpSink::start().await;
    let cfg = config(&sink);
    let mailer = SmtpMailer::from_config(&cfg).unwrap();
    mailer
        .send(MailMessage {
            to: "Zoë <zoe@example.com>".into(),
            subject: "Réinitialisation".into(),
            template: "custom".into(),
            text: Some("Bonjour Zoë, voilà ton lien ✓".into()),
            html: None,
        })
        .await
        .unwrap();
    let mail = only_one(sink.wait_for(1, WAIT).await);
    let headers = [
        ("Subject", "Réinitialisation"),
        ("To", "Zoë <zoe@example.com>"),
    ];
    assert_delivered(&mail, "zoe@example.com", &headers);
    assert_eq!(
        mail.part("text/plain").as_deref(),
        Some("Bonjour Zoë, voilà ton lien ✓")
    );
}

#[tokio::test]
async fn every_builtin_template_goes_through_smtp() {
    let sink = SmtpSink::start().await;
    let cfg = config(&sink);
    let templates = MailTemplates::new(&cfg).unwrap();
    let mailer = mailer_from_config(&cfg).unwrap();
    let ctx = json!({
        "user": {"email": "user@example.com", "username": "ann"},
        "email": "user@example.com", "username": "ann",
        "confirmation_link": "https://app.example.com/confirm/CTOK", "confirmation_token": "CTOK",
        "reset_link": "https://app.example.com/reset/RTOK", "reset_token": "RTOK",
        "link": "https://app.example.com/change-email/ETOK", "token": "ETOK",
        "within": "2 days",
    });
    let expect = [
        (
            "welcome",
            "You can confirm your email through the link below:",
        ),
        ("welcome_existing", "already in our system"),
        (
            "welcome_existing_username",
            "already associated with another account",
        ),
        (
            "confirmation_instructions",
            "Please confirm your email through the link below:",
        ),
        (
            "reset_instructions",
            "Click the link below to reset your password:",
        ),
        ("reset_notice", "Your password has been reset."),
        ("change_notice", "Your password has been changed."),
        (
            "change_email_instructions",
            "Please confirm your new email through the link below:",
        ),
        ("change_username_notice", "Your username has been changed."),
        ("username_recovery", "Your username is: ann"),
    ];
    for (name, _) in expect {
        let (text, html) = templates.render(name, &ctx, &cfg).unwrap();
        mailer
            .send(MailMessage {
                to: "user@example.com".into(),
                subject: name.into(),
                template: name.into(),
                text,
                html,
            })
            .await
            .unwrap();
    }
    let mails = sink.wait_for(expect.len(), WAIT).await;
    assert_eq!(mails.len(), expect.len());
    for (mail, (name, phrase)) in mails.iter().zip(expect) {
        assert_eq!(mail.header("Subject").as_deref(), Some(name));
        let text = mail.part("text/plain").unwrap();
        let html = mail.part("text/html").unwrap();
        assert!(text.contains(phrase), "{name} text: {text}");
        assert!(html.contains(phrase), "{name} html: {html}");
    }
    let welcome = mails[0].part("text/plain").unwrap();
    assert!(
        welcome.contains("https://app.example.com/confirm/CTOK"),
        "{welcome}"
    );
    let change = mails[7].part("text/plain").unwrap();
    assert!(change.contains("https://app.example.com/change-email/ETOK"));
    assert!(change.contains("This link will expire in 2 days."));
}

#[tokio::test]
async fn welcome_without_confirmation_has_no_link() {
    let cfg = SecurityConfig::default();
    let ctx = json!({
        "user": {"email": "user@example.com", "username": null},
        "confirmation_link": null, "confirmation_token": null,
    });
    let (text, html) = MailTemplates::new(&cfg)
        .unwrap()
        .render("welcome", &ctx, &cfg)
        .unwrap();
    assert_eq!(text.unwrap().trim(), "Welcome user@example.com!");
    assert!(!html.unwrap().contains("<a"));
}

/// The sink itself: ordering errors, RSET, NOOP and dot-unstuffing over a raw connection.
#[tokio::test]
async fn sink_speaks_minimal_smtp() {
    let sink = SmtpSink::start().await;
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", sink.port()))
        .await
        .unwrap();
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    let mut line = String::new();
    let mut expect = async |send: &str, code: &str| {
        if !send.is_empty() {
            wr.write_all(send.as_bytes()).await.unwrap();
        }
        line.clear();
        rd.read_line(&mut line).await.unwrap();
        assert!(line.starts_with(code), "{send:?} -> {line:?}");
    };
    expect("", "220").await;
    expect("HELO test\r\n", "250").await;
    expect("RCPT TO:<b@example.com>\r\n", "503").await;
    expect("MAIL FROM:<a@example.com>\r\n", "250").await;
    expect("RSET\r\n", "250").await;
    expect("DATA\r\n", "503").await;
    expect("NOOP\r\n", "250").await;
    expect("MAIL FROM:<a@example.com>\r\n", "250").await;
    expect("RCPT TO:<b@example.com>\r\n", "250").await;
    expect("RCPT TO:<c@example.com>\r\n", "250").await;
    expect("DATA\r\n", "354").await;
    expect("Subject: x\r\n\r\n..dot\r\nplain\r\n.\r\n", "250").await;
    expect("BOGUS\r\n", "502").await;
    expect("QUIT\r\n", "221").await;

    let mail = only_one(sink.wait_for(1, WAIT).await);
    assert_eq!(mail.mail_from, "a@example.com");
    assert_eq!(mail.rcpt_to, vec!["b@example.com", "c@example.com"]);
    assert_eq!(mail.data, "Subject: x\r\n\r\n.dot\r\nplain\r\n");
    assert_eq!(mail.body_text(), ".dot\nplain");
}
