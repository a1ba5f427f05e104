//! Minimal built-in HTML pages for form (non-JSON) clients.

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            _ => out.push(c),
        }
    }
    out
}

/// The login page.
///
/// Parity: `security/login_user.html` (fields `email`, `password`, `remember`, `next`,
/// `csrf_token`).
pub fn login_page(action: &str, csrf: &str, email: &str, next: &str, errors: &[String]) -> String {
    let errs: String = errors
        .iter()
        .map(|e| format!("<li>{}</li>", escape(e)))
        .collect();
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Login</title></head><body>\n\
         <h1>Login</h1>\n<ul class=\"errors\">{errs}</ul>\n\
         <form action=\"{action}\" method=\"POST\" name=\"login_user_form\">\n\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\n\
         <input type=\"hidden\" name=\"next\" value=\"{next}\">\n\
         <label>Email <input type=\"email\" name=\"email\" id=\"email\" value=\"{email}\"></label>\n\
         <label>Password <input type=\"password\" name=\"password\" id=\"password\"></label>\n\
         <label><input type=\"checkbox\" name=\"remember\" id=\"remember\" value=\"y\"> Remember me</label>\n\
         <input type=\"submit\" id=\"submit\" value=\"Login\">\n</form>\n</body></html>\n",
        action = escape(action),
        csrf = escape(csrf),
        next = escape(next),
        email = escape(email),
    )
}
