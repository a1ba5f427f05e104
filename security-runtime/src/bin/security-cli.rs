//! `security-cli`: manage users and roles from the command line.
//!
//! Reads the configuration the way the application does (`Rocket.toml` and `ROCKET_*`
//! variables): the `security` table, and the database URL from `databases.<name>.url`
//! (`--db`, default `app`) unless `--database-url` is given.
//!
//! Success prints a message on stdout and exits 0; a missing user or role, invalid input
//! or a duplicate prints a message on stderr and exits 1; a malformed command line exits 2.
//! Passwords are never printed.
//!
//! Parity: Flask-Security's `flask users` / `flask roles` commands (`cli.py`).

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use security_runtime::datastore::Factor;
use security_runtime::hashing::PasswordContext;
use security_runtime::messages;
use security_runtime::validation::{
    normalize_email, DefaultPasswordUtil, DefaultUsernameUtil, PasswordUtil, UsernameUtil,
};
use security_runtime::{NewUser, SecurityConfig, SqlDatastore, User, UserDatastore, UserQuery};

/// Manage Flask-Security-compatible users and roles.
#[derive(Debug, Parser)]
#[command(name = "security-cli", version)]
struct Cli {
    /// Name of the database in Rocket's `databases` table.
    #[arg(long, default_value = "app", global = true)]
    db: String,
    /// Database URL (`sqlite:`, `postgres:`, `mysql:`/`mariadb:`), instead of
    /// `databases.<db>.url`.
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Group,
}

#[derive(Debug, Subcommand)]
enum Group {
    /// User commands. USER is an email address or a username.
    #[command(subcommand)]
    Users(UsersCmd),
    /// Role commands.
    #[command(subcommand)]
    Roles(RolesCmd),
    /// Database schema commands.
    #[command(subcommand)]
    Db(DbCmd),
}

#[derive(Debug, Subcommand)]
enum DbCmd {
    /// Applies the schema migrations the database lacks.
    Upgrade,
    /// Shows what the schema is and which migrations are applied or pending; changes
    /// nothing.
    Status,
}

#[derive(Debug, Subcommand)]
enum UsersCmd {
    /// Create a user: ATTRS are `email:VALUE` / `username:VALUE` (a bare value is the
    /// email). The user is inactive unless `--active` is given.
    #[command(
        after_help = "Example: security-cli users create me@me.com --password \
                            'battery staple' --active"
    )]
    Create {
        /// `attr:value` pairs; a bare value is the email.
        #[arg(value_name = "ATTRS")]
        attributes: Vec<String>,
        /// The password; read from the first line of standard input when omitted.
        #[arg(long)]
        password: Option<String>,
        /// Mark the new user as active.
        #[arg(short, long)]
        active: bool,
        /// The username.
        #[arg(short, long)]
        username: Option<String>,
    },
    /// Activate a user.
    Activate {
        /// Email or username.
        user: String,
    },
    /// Deactivate a user.
    Deactivate {
        /// Email or username.
        user: String,
    },
    /// Reset all authentication credentials of a user: sessions, auth tokens, two-factor
    /// and unified sign-in secrets. The password is not affected.
    #[command(name = "reset_access", alias = "reset-access")]
    ResetAccess {
        /// Email or username.
        user: String,
    },
    /// Turn off a user's two-factor sign-in (method, secret, phone) and remove the
    /// recovery codes: for a user who lost the second factor.
    #[command(name = "tf_reset", alias = "tf-reset")]
    TfReset {
        /// Email or username.
        user: String,
    },
    /// Forget a user's failed sign-in attempts (passwords and codes), ending a lockout.
    Unlock {
        /// Email or username.
        user: String,
    },
    /// Change a user's password; all of the user's sessions end.
    #[command(name = "change_password", alias = "change-password")]
    ChangePassword {
        /// Email or username.
        user: String,
        /// The new password; read from the first line of standard input when omitted.
        #[arg(long)]
        password: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum RolesCmd {
    /// Create a role.
    Create {
        /// Role name.
        name: String,
        /// Description.
        #[arg(short, long)]
        description: Option<String>,
        /// Comma-separated permissions.
        #[arg(short, long)]
        permissions: Option<String>,
    },
    /// Add a role to a user.
    Add {
        /// Email or username.
        user: String,
        /// Role name.
        role: String,
    },
    /// Remove a role from a user.
    Remove {
        /// Email or username.
        user: String,
        /// Role name.
        role: String,
    },
    /// Add comma-separated permissions to a role.
    #[command(name = "add_permissions", alias = "add-permissions")]
    AddPermissions {
        /// Role name.
        role: String,
        /// Comma-separated permissions.
        permissions: String,
    },
    /// Remove comma-separated permissions from a role.
    #[command(name = "remove_permissions", alias = "remove-permissions")]
    RemovePermissions {
        /// Role name.
        role: String,
        /// Comma-separated permissions.
        permissions: String,
    },
}

/// Why a command failed.
#[derive(Debug)]
enum Failure {
    /// Not found, invalid, duplicate, database trouble: exit 1.
    Failed(String),
    /// A malformed command line that clap could not catch: exit 2, in clap's format
    /// with the usage of the subcommand at this path.
    Usage(&'static [&'static str], String),
}

type Outcome = Result<String, Failure>;

fn fail(msg: impl Into<String>) -> Failure {
    Failure::Failed(msg.into())
}

fn db_error(e: security_runtime::SecurityError) -> Failure {
    fail(format!("database: {e}"))
}

/// What every command needs.
struct Ctx {
    cfg: SecurityConfig,
    ds: SqlDatastore,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match setup(&cli).await {
        Ok(ctx) => run(&ctx, cli.command).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(msg) => {
            println!("{msg}");
            ExitCode::SUCCESS
        }
        Err(Failure::Failed(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
        Err(Failure::Usage(path, msg)) => usage_error(path, msg),
    }
}

/// Exits with status 2 and clap's usage-error layout for the subcommand at `path`.
fn usage_error(path: &[&str], msg: String) -> ! {
    let mut cmd = Cli::command();
    // Building sets the subcommands' full names (`security-cli users create`).
    cmd.build();
    for name in path {
        let Some(sub) = cmd.find_subcommand(name).cloned() else {
            break;
        };
        cmd = sub;
    }
    cmd.error(clap::error::ErrorKind::InvalidValue, msg).exit()
}

/// Reads the configuration and opens the datastore.
async fn setup(cli: &Cli) -> Result<Ctx, Failure> {
    let figment = rocket::Config::figment();
    let cfg = SecurityConfig::from_figment(&figment).map_err(fail)?;
    let url = match &cli.database_url {
        Some(u) => u.clone(),
        None => figment
            .extract_inner::<String>(&format!("databases.{}.url", cli.db))
            .map_err(|_| {
                fail(format!(
                    "no database URL: set `databases.{}.url` in Rocket.toml or \
                     ROCKET_DATABASES, or pass --database-url",
                    cli.db
                ))
            })?,
    };
    let ds = connect(&url).await?;
    if !matches!(cli.command, Group::Db(_)) {
        // The users and roles commands need the current schema, as the app does.
        let status = if cfg.migrate_on_launch {
            ds.migrate().await
        } else {
            ds.schema_status().await
        };
        if !status.map_err(db_error)?.pending.is_empty() {
            return Err(fail(
                "the database schema has pending migrations: run `security-cli db upgrade`",
            ));
        }
    }
    Ok(Ctx { cfg, ds })
}

/// Picks the pool type by URL scheme. The URL itself is never printed: it may hold a
/// password.
async fn connect(url: &str) -> Result<SqlDatastore, Failure> {
    let scheme = url.split(':').next().unwrap_or("").to_ascii_lowercase();
    let conn_err = |e: sqlx::Error| fail(format!("cannot connect to the database: {e}"));
    match scheme.as_str() {
        #[cfg(feature = "sqlite")]
        "sqlite" => sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(4)
            .connect(url)
            .await
            .map(SqlDatastore::from)
            .map_err(conn_err),
        "postgres" | "postgresql" => sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect(url)
            .await
            .map(SqlDatastore::from)
            .map_err(conn_err),
        "mysql" | "mariadb" => sqlx::mysql::MySqlPoolOptions::new()
            .max_connections(4)
            .connect(url)
            .await
            .map(SqlDatastore::from)
            .map_err(conn_err),
        other => Err(fail(format!(
            "unsupported database URL scheme `{other}`; expected `sqlite`, `postgres`, \
             `mysql` or `mariadb`"
        ))),
    }
}

async fn run(ctx: &Ctx, command: Group) -> Outcome {
    match command {
        Group::Users(UsersCmd::Create {
            attributes,
            password,
            active,
            username,
        }) => users_create(ctx, &attributes, password, active, username).await,
        Group::Users(UsersCmd::Activate { user }) => set_active(ctx, &user, true).await,
        Group::Users(UsersCmd::Deactivate { user }) => set_active(ctx, &user, false).await,
        Group::Users(UsersCmd::ResetAccess { user }) => reset_access(ctx, &user).await,
        Group::Users(UsersCmd::TfReset { user }) => tf_reset(ctx, &user).await,
        Group::Users(UsersCmd::Unlock { user }) => unlock(ctx, &user).await,
        Group::Users(UsersCmd::ChangePassword { user, password }) => {
            change_password(ctx, &user, password).await
        }
        Group::Roles(RolesCmd::Create {
            name,
            description,
            permissions,
        }) => roles_create(ctx, &name, description, permissions).await,
        Group::Roles(RolesCmd::Add { user, role }) => {
            role_membership(ctx, &user, &role, true).await
        }
        Group::Roles(RolesCmd::Remove { user, role }) => {
            role_membership(ctx, &user, &role, false).await
        }
        Group::Roles(RolesCmd::AddPermissions { role, permissions }) => {
            role_permissions(ctx, &role, &permissions, true).await
        }
        Group::Roles(RolesCmd::RemovePermissions { role, permissions }) => {
            role_permissions(ctx, &role, &permissions, false).await
        }
        Group::Db(DbCmd::Upgrade) => {
            let status = ctx.ds.migrate().await.map_err(db_error)?;
            Ok(match status.applied_now.as_slice() {
                [] => format!("Schema is up to date at version {}.", status.version()),
                now => format!(
                    "Upgraded the {} to version {} (applied {}).",
                    status.origin,
                    status.version(),
                    now.iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
        }
        Group::Db(DbCmd::Status) => {
            let status = ctx.ds.schema_status().await.map_err(db_error)?;
            Ok(schema_report(&status))
        }
    }
}

/// `db status`: the origin, then one line per migration.
fn schema_report(status: &security_runtime::SchemaStatus) -> String {
    let mut out = format!(
        "schema: {}\nversion: {} of {}",
        status.origin,
        status.version(),
        security_runtime::SchemaStatus::latest()
    );
    for m in &status.applied {
        out.push_str(&format!("\napplied  {:>4}  {}", m.version, m.name));
    }
    for m in &status.pending {
        out.push_str(&format!("\npending  {:>4}  {}", m.version, m.name));
    }
    out
}

/// Finds a user by email (when the input is an email address) or username,
/// case-insensitively.
///
/// Parity: `lookup_identity` with the email and username identity attributes.
async fn lookup(ctx: &Ctx, identity: &str) -> Result<User, Failure> {
    let identity = identity.trim();
    let query = match normalize_email(identity) {
        Ok(email) => UserQuery::Email(email),
        Err(_) => {
            let name = DefaultUsernameUtil::new(&ctx.cfg)
                .normalize(identity)
                .unwrap_or_else(|| identity.to_owned());
            UserQuery::Username(name)
        }
    };
    ctx.ds
        .find_user(&query, true)
        .await
        .map_err(db_error)?
        .ok_or_else(|| fail("User not found."))
}

/// The password option, or the first line of standard input.
fn password_arg(password: Option<String>) -> Result<String, Failure> {
    if let Some(p) = password {
        return Ok(p);
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| fail(format!("cannot read the password from standard input: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Hashes an already normalised password off the executor.
async fn hash(cfg: &SecurityConfig, password: String) -> Result<String, Failure> {
    let ctx = PasswordContext::new(cfg.hashing())
        .map_err(|e| fail(format!("password hashing configuration: {e}")))?;
    tokio::task::spawn_blocking(move || ctx.hash_password(&password))
        .await
        .map_err(|_| fail("password hashing failed"))?
        .map_err(|e| fail(format!("password hashing failed: {e}")))
}

/// Splits `attr:value` arguments; a bare value is the email.
fn parse_attributes(
    attributes: &[String],
    mut username: Option<String>,
) -> Result<(Option<String>, Option<String>), Failure> {
    let mut email = None;
    for arg in attributes {
        let (attr, value) = arg.split_once(':').unwrap_or(("email", arg));
        let slot = match attr {
            "email" => &mut email,
            "username" => &mut username,
            other => {
                return Err(Failure::Usage(
                    &["users", "create"],
                    format!("unknown attribute `{other}`; expected `email` or `username`"),
                ))
            }
        };
        if slot.is_some() {
            return Err(Failure::Usage(
                &["users", "create"],
                format!("attribute `{attr}` given twice"),
            ));
        }
        *slot = Some(value.to_owned());
    }
    Ok((email, username))
}

/// Parity: `flask users create` (register-form validation, then `create_user`).
async fn users_create(
    ctx: &Ctx,
    attributes: &[String],
    password: Option<String>,
    active: bool,
    username: Option<String>,
) -> Outcome {
    let (email, username) = parse_attributes(attributes, username)?;
    let password = password_arg(password)?;
    let mut errors = Vec::new();
    let email = match email.as_deref().map(normalize_email) {
        None => {
            errors.push(format!("email: {}", messages::EMAIL_NOT_PROVIDED));
            String::new()
        }
        Some(Err(e)) => {
            errors.push(format!("email: {e}"));
            String::new()
        }
        Some(Ok(e)) => e,
    };
    let username = match username
        .as_deref()
        .map(|u| DefaultUsernameUtil::new(&ctx.cfg).validate(u))
    {
        None => None,
        Some(Err(e)) => {
            errors.push(format!("username: {e}"));
            None
        }
        Some(Ok(u)) => Some(u),
    };
    let inputs: Vec<String> = [Some(email.clone()), username.clone()]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect();
    let password = match DefaultPasswordUtil::new(&ctx.cfg)
        .validate(&password, true, &inputs)
        .await
    {
        Ok(p) => p,
        Err(msgs) => {
            errors.extend(msgs.into_iter().map(|m| format!("password: {m}")));
            String::new()
        }
    };
    if !errors.is_empty() {
        return Err(fail(format!("Error creating user. {}", errors.join("; "))));
    }
    check_unique(ctx, &email, username.as_deref()).await?;
    let new = NewUser {
        email: email.clone(),
        username: username.clone(),
        password: Some(hash(&ctx.cfg, password).await?),
        active: Some(active),
        ..NewUser::default()
    };
    match ctx.ds.create_user(new).await {
        Ok(_) => {}
        Err(security_runtime::SecurityError::AlreadyExists { .. }) => {
            return Err(fail("Error creating user. The user already exists."))
        }
        Err(e) => return Err(db_error(e)),
    }
    let summary = serde_json::json!({
        "email": email,
        "username": username,
        "password": "****",
        "active": active,
    });
    Ok(format!("User created successfully.\n{summary}"))
}

/// Parity: the register form's `unique_user_email` / `unique_username` validators.
async fn check_unique(ctx: &Ctx, email: &str, username: Option<&str>) -> Result<(), Failure> {
    let q = UserQuery::Email(email.to_owned());
    if ctx
        .ds
        .find_user(&q, true)
        .await
        .map_err(db_error)?
        .is_some()
    {
        return Err(fail(format!(
            "Error creating user. email: {}",
            messages::email_already_associated(email)
        )));
    }
    if let Some(name) = username {
        let q = UserQuery::Username(name.to_owned());
        if ctx
            .ds
            .find_user(&q, true)
            .await
            .map_err(db_error)?
            .is_some()
        {
            return Err(fail(format!(
                "Error creating user. username: {}",
                messages::username_already_associated(name)
            )));
        }
    }
    Ok(())
}

/// Parity: `flask users activate` / `deactivate`.
async fn set_active(ctx: &Ctx, identity: &str, active: bool) -> Outcome {
    let mut user = lookup(ctx, identity).await?;
    let signed_in_as = user.fs_uniquifier.clone();
    let changed = ctx
        .ds
        .set_active(&mut user, active)
        .await
        .map_err(db_error)?;
    if !active {
        end_sessions(ctx, &signed_in_as).await?;
    }
    let what = if active { "activated" } else { "deactivated" };
    Ok(if changed {
        format!("User \"{identity}\" has been {what}.")
    } else {
        format!("User \"{identity}\" was already {what}.")
    })
}

/// Parity: `flask users reset_access` (`reset_user_access`).
async fn reset_access(ctx: &Ctx, identity: &str) -> Outcome {
    let mut user = lookup(ctx, identity).await?;
    let signed_in_as = user.fs_uniquifier.clone();
    ctx.ds
        .reset_user_access(&mut user)
        .await
        .map_err(db_error)?;
    end_sessions(ctx, &signed_in_as).await?;
    Ok(format!(
        "User \"{identity}\" authentication credentials have been reset."
    ))
}

/// Removes the stored sessions and remember-me series of the user who signed in as
/// `fs_uniquifier` (the uniquifier's rotation already refuses them; this frees the rows).
async fn end_sessions(ctx: &Ctx, fs_uniquifier: &str) -> Result<(), Failure> {
    if let Some(backend) = ctx.ds.session_backend() {
        backend
            .delete_user_sessions(fs_uniquifier)
            .await
            .map_err(db_error)?;
    }
    Ok(())
}

/// Ends a lockout: the failed attempts of every factor are forgotten.
async fn unlock(ctx: &Ctx, identity: &str) -> Outcome {
    let user = lookup(ctx, identity).await?;
    for factor in [Factor::Password, Factor::Code, Factor::Passcode] {
        ctx.ds
            .clear_failed_attempts(user.id, factor)
            .await
            .map_err(db_error)?;
    }
    Ok(format!("User \"{identity}\" has been unlocked."))
}

/// Parity: `datastore.tf_reset` (and the recovery codes, which only serve two-factor).
async fn tf_reset(ctx: &Ctx, identity: &str) -> Outcome {
    let mut user = lookup(ctx, identity).await?;
    ctx.ds.tf_reset(&mut user).await.map_err(db_error)?;
    let codes = user.mf_recovery_codes.clone();
    if codes.is_some() {
        ctx.ds
            .swap_recovery_codes(&mut user, codes.as_deref(), None)
            .await
            .map_err(db_error)?;
    }
    Ok(format!(
        "User \"{identity}\" two-factor sign-in has been reset."
    ))
}

/// Parity: `flask users change_password` (reset-form validation, then
/// `admin_change_password(notify=False)`: new hash and a new `fs_uniquifier`, one write).
async fn change_password(ctx: &Ctx, identity: &str, password: Option<String>) -> Outcome {
    let mut user = lookup(ctx, identity).await?;
    let password = password_arg(password)?;
    let inputs: Vec<String> = [Some(user.email.clone()), user.username.clone()]
        .into_iter()
        .flatten()
        .collect();
    let password = DefaultPasswordUtil::new(&ctx.cfg)
        .validate(&password, false, &inputs)
        .await
        .map_err(|msgs| {
            fail(format!(
                "Error changing password. password: {}",
                msgs.join("; ")
            ))
        })?;
    user.password = Some(hash(&ctx.cfg, password).await?);
    // Outstanding auth tokens die with the old password too.
    user.rotate_identity();
    ctx.ds.put_user(&mut user).await.map_err(db_error)?;
    Ok(format!(
        "Password of user \"{identity}\" has been changed; all of their sessions have ended."
    ))
}

/// Splits a comma-separated list, trimming and dropping empty entries.
fn split_list(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Parity: `flask roles create`.
async fn roles_create(
    ctx: &Ctx,
    name: &str,
    description: Option<String>,
    permissions: Option<String>,
) -> Outcome {
    let perms = permissions.as_deref().map(split_list).unwrap_or_default();
    match ctx
        .ds
        .create_role(name, description.as_deref(), &perms)
        .await
    {
        Ok(_) => Ok(format!("Role \"{name}\" created successfully.")),
        Err(security_runtime::SecurityError::AlreadyExists { .. }) => {
            Err(fail(format!("Role \"{name}\" already exists.")))
        }
        Err(security_runtime::SecurityError::Invalid(e)) => Err(fail(e)),
        Err(e) => Err(db_error(e)),
    }
}

/// Parity: `flask roles add` / `flask roles remove`.
async fn role_membership(ctx: &Ctx, identity: &str, role: &str, add: bool) -> Outcome {
    let mut user = lookup(ctx, identity).await?;
    let role = ctx
        .ds
        .find_role(role)
        .await
        .map_err(db_error)?
        .ok_or_else(|| fail("Cannot find role."))?;
    let changed = if add {
        ctx.ds.add_role_to_user(&mut user, &role.name).await
    } else {
        ctx.ds.remove_role_from_user(&mut user, &role.name).await
    }
    .map_err(db_error)?;
    let name = &role.name;
    match (add, changed) {
        (true, true) => Ok(format!(
            "Role \"{name}\" added to user \"{identity}\" successfully."
        )),
        (false, true) => Ok(format!(
            "Role \"{name}\" removed from user \"{identity}\" successfully."
        )),
        (true, false) => Err(fail(format!(
            "Cannot add role to user: \"{identity}\" already has role \"{name}\"."
        ))),
        (false, false) => Err(fail(format!(
            "Cannot remove role from user: \"{identity}\" does not have role \"{name}\"."
        ))),
    }
}

/// Parity: `flask roles add_permissions` / `remove_permissions` (succeeds when the role
/// already has, or already lacks, the permissions).
async fn role_permissions(ctx: &Ctx, role: &str, permissions: &str, add: bool) -> Outcome {
    let mut role = ctx
        .ds
        .find_role(role)
        .await
        .map_err(db_error)?
        .ok_or_else(|| fail("Cannot find role."))?;
    let perms = split_list(permissions);
    if perms.is_empty() {
        return Err(fail("No permissions given."));
    }
    if add {
        ctx.ds.add_permissions_to_role(&mut role, &perms).await
    } else {
        ctx.ds.remove_permissions_from_role(&mut role, &perms).await
    }
    .map_err(db_error)?;
    let (verb, prep) = if add {
        ("added", "to")
    } else {
        ("removed", "from")
    };
    Ok(format!(
        "Permission(s) \"{}\" {verb} {prep} role \"{}\" successfully.",
        perms.join(","),
        role.name
    ))
}
