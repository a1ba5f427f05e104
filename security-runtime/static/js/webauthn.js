// Passkey ceremonies of the security pages: reads the options the server put on a
// form (data-options, data-ceremony = "create" or "get"), asks the browser's
// authenticator, and posts the result as the form's `credential` field: a JSON string
// with base64url members, the shape Flask-Security's pages post.
(function () {
  "use strict";

  function toBytes(b64url) {
    var b64 = b64url.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var raw = atob(b64);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = raw.charCodeAt(i); }
    return out.buffer;
  }

  function toB64url(buffer, padded) {
    var bytes = new Uint8Array(buffer);
    var s = "";
    for (var i = 0; i < bytes.length; i++) { s += String.fromCharCode(bytes[i]); }
    var b64 = btoa(s).replace(/\+/g, "-").replace(/\//g, "_");
    return padded ? b64 : b64.replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (c) {
      var d = { type: c.type, id: toBytes(c.id) };
      if (c.transports) { d.transports = c.transports; }
      return d;
    });
  }

  function creationOptions(o) {
    o.challenge = toBytes(o.challenge);
    o.user.id = toBytes(o.user.id);
    o.excludeCredentials = descriptors(o.excludeCredentials);
    return { publicKey: o };
  }

  function requestOptions(o) {
    o.challenge = toBytes(o.challenge);
    o.allowCredentials = descriptors(o.allowCredentials);
    return { publicKey: o };
  }

  function registration(cred) {
    var r = cred.response;
    return {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      response: {
        attestationObject: toB64url(r.attestationObject),
        clientDataJSON: toB64url(r.clientDataJSON),
        transports: r.getTransports ? r.getTransports() : null
      },
      extensions: JSON.stringify(cred.getClientExtensionResults())
    };
  }

  function assertion(cred) {
    var r = cred.response;
    return {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      response: {
        authenticatorData: toB64url(r.authenticatorData),
        clientDataJSON: toB64url(r.clientDataJSON),
        signature: toB64url(r.signature),
        userHandle: r.userHandle ? toB64url(r.userHandle, true) : ""
      },
      assertionClientExtensions: JSON.stringify(cred.getClientExtensionResults())
    };
  }

  function report(form, message) {
    var p = form.querySelector(".wan-error");
    if (p) { p.textContent = message; p.hidden = false; }
  }

  function run(form) {
    if (!window.PublicKeyCredential) {
      report(form, form.dataset.unsupported || "This browser has no passkey support.");
      return;
    }
    var options = JSON.parse(form.dataset.options);
    var create = form.dataset.ceremony === "create";
    var call = create
      ? navigator.credentials.create(creationOptions(options))
      : navigator.credentials.get(requestOptions(options));
    call.then(function (cred) {
      var body = create ? registration(cred) : assertion(cred);
      form.querySelector("input[name=credential]").value = JSON.stringify(body);
      form.submit();
    }, function (err) {
      report(form, String(err && err.message || err));
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var forms = document.querySelectorAll("form[data-ceremony]");
    for (var i = 0; i < forms.length; i++) { run(forms[i]); }
  });
})();
