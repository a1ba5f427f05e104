//! The optional declaration of the application's roles and permissions.
//!
//! The file is `$CARGO_MANIFEST_DIR/security-roles.toml`, or the file named by the
//! `SECURITY_ROLES_FILE` environment variable (relative to the crate's manifest directory).
//! No file means no check. The macros check every role and permission name against it,
//! and submit its content to the runtime's route security report, which compares it with
//! the datastore at launch.

mod parse;

use std::path::{Path, PathBuf};

use proc_macro2::TokenStream;
use quote::quote;
use syn::LitStr;

use crate::diag::{backticked, did_you_mean, Errors};
use parse::DeclaredRoles;

/// The default file name, looked up in the crate's manifest directory.
const FILE_NAME: &str = "security-roles.toml";
/// Overrides the file's location, e.g. to share one file across a workspace.
const ENV_VAR: &str = "SECURITY_ROLES_FILE";
/// Longest list of declared names quoted in one message.
const MAX_LISTED: usize = 12;

/// A loaded and valid roles file.
pub(crate) struct RolesFile {
    /// Absolute path, as `include_bytes!` needs it.
    path: String,
    declared: DeclaredRoles,
}

/// Loads the roles file. `Ok(None)` when there is none; `Err` carries one message per
/// problem, ready to be reported at the attribute.
pub(crate) fn load() -> Result<Option<RolesFile>, Vec<String>> {
    let Some(path) = locate()? else {
        return Ok(None);
    };
    let shown = path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    );
    let in_file = |message: String| format!("in `{shown}`: {message}");
    let text = std::fs::read_to_string(&path)
        .map_err(|error| vec![in_file(format!("cannot read the file: {error}"))])?;
    let declared = parse::parse(&text)
        .map_err(|problems| problems.into_iter().map(in_file).collect::<Vec<_>>())?;
    let path = path
        .to_str()
        .ok_or_else(|| vec![in_file("the file's path must be valid UTF-8".to_owned())])?
        .to_owned();
    Ok(Some(RolesFile { path, declared }))
}

/// The file to read, if any.
fn locate() -> Result<Option<PathBuf>, Vec<String>> {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    if let Some(configured) = std::env::var_os(ENV_VAR).filter(|value| !value.is_empty()) {
        let configured = PathBuf::from(configured);
        let path = match &manifest_dir {
            Some(dir) if configured.is_relative() => dir.join(&configured),
            _ => configured,
        };
        return if path.is_file() {
            Ok(Some(absolute(path)))
        } else {
            Err(vec![format!(
                "`{ENV_VAR}` names `{}`, which is not a file; unset it or point it at a `{FILE_NAME}`",
                path.display()
            )])
        };
    }
    Ok(manifest_dir
        .map(|dir| dir.join(FILE_NAME))
        .filter(|path| path.is_file())
        .map(absolute))
}

fn absolute(path: PathBuf) -> PathBuf {
    std::fs::canonicalize(&path).unwrap_or(path)
}

/// Makes cargo rebuild the crate when `SECURITY_ROLES_FILE` changes: `option_env!`
/// records the variable in the crate's dep-info.
pub(crate) fn track_env() -> TokenStream {
    quote! {
        const _: ::core::option::Option<&str> = ::core::option_env!(#ENV_VAR);
    }
}

impl RolesFile {
    /// Checks the names of a `roles_*` attribute, or of a `permissions_*` one when
    /// `permissions` is true.
    pub(crate) fn check(&self, permissions: bool, names: &[LitStr], errors: &mut Errors) {
        let file = Path::new(&self.path)
            .file_name()
            .map_or_else(|| FILE_NAME.into(), |name| name.to_string_lossy());
        let (noun, known): (&str, Vec<&str>) = if permissions {
            ("permission", self.declared.permissions())
        } else {
            ("role", self.declared.role_names().collect())
        };
        for lit in names {
            let name = lit.value();
            if known.contains(&name.as_str()) {
                continue;
            }
            let declared = if known.is_empty() {
                format!("`{file}` declares no {noun}s")
            } else if known.len() > MAX_LISTED {
                let first = backticked(known.iter().copied().take(MAX_LISTED));
                format!("`{file}` declares {first}, ...")
            } else {
                format!("`{file}` declares {}", backticked(known.iter().copied()))
            };
            errors.spanned(
                lit,
                format!(
                    "unknown {noun} `{name}`{}; {declared}",
                    did_you_mean(&name, known.iter().copied())
                ),
            );
        }
    }

    /// Rebuild tracking plus the `DeclaredRoles` record for the runtime's report.
    pub(crate) fn expand(&self) -> TokenStream {
        let path = &self.path;
        let roles = self.declared.roles.iter().map(|role| {
            let name = &role.name;
            let description = match &role.description {
                Some(text) => quote!(::core::option::Option::Some(#text)),
                None => quote!(::core::option::Option::None),
            };
            let permissions = &role.permissions;
            quote! {
                ::security_runtime::__private::DeclaredRole {
                    name: #name,
                    description: #description,
                    permissions: &[#(#permissions),*],
                }
            }
        });
        quote! {
            const _: () = {
                // Cargo rebuilds the crate when the roles file changes.
                const _: &[u8] = ::core::include_bytes!(#path);
                ::security_runtime::__private::inventory::submit! {
                    ::security_runtime::__private::DeclaredRoles {
                        module_path: ::core::module_path!(),
                        source: #path,
                        roles: &[#(#roles),*],
                    }
                }
            };
        }
    }
}
