//! Runs the compile-fail and compile-pass cases of every security macro with trybuild.
//!
//! Layout: `tests/<macro>/{pass,fail}/<what_is_checked>.rs`, a `.stderr` beside each
//! fail case. Regenerate with `TRYBUILD=overwrite cargo test -p ui-tests` and review the
//! diff: every caret must point at the mistake named in the case's first comment.

/// Cases that run without a roles file.
const MACROS: &[&str] = &[
    "auth_required",
    "login_required",
    "auth_token_required",
    "http_auth_required",
    "roles_required",
    "roles_accepted",
    "permissions_required",
    "permissions_accepted",
    "anonymous_user_required",
    "unauth_csrf",
    "stacking",
    "user_model",
    "role_model",
];

#[test]
fn ui() {
    // trybuild's cargo does not read the workspace's `[profile]`; without this every pass
    // case is a 150 MB binary full of debug info (7 GB in all). The variables reach it
    // through the environment it inherits.
    std::env::set_var("CARGO_PROFILE_DEV_DEBUG", "false");
    std::env::set_var("CARGO_PROFILE_DEV_STRIP", "debuginfo");
    std::env::set_var("CARGO_INCREMENTAL", "0");

    let cases = trybuild::TestCases::new();
    for name in MACROS {
        cases.pass(format!("tests/{name}/pass/*.rs"));
        cases.compile_fail(format!("tests/{name}/fail/*.rs"));
    }
    // Dropping builds and runs the cases.
    drop(cases);

    // The declared-roles cases read `tests/declared_roles/security-roles.toml`. The
    // variable reaches the macros through trybuild's cargo; the cases above ran without it.
    std::env::set_var(
        "SECURITY_ROLES_FILE",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/declared_roles/security-roles.toml"
        ),
    );
    let declared = trybuild::TestCases::new();
    declared.pass("tests/declared_roles/pass/*.rs");
    declared.compile_fail("tests/declared_roles/fail/*.rs");
}
