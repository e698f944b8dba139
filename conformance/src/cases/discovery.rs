//! Server discovery: `/_matrix/client/versions` and `.well-known`.

use http::Method;

use crate::{
    case,
    case::{Case, CaseResult},
    client::Ctx,
    ensure,
};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            versions_lists_spec_versions,
            section = "client-server-api/#get_matrixclientversions",
            op = ("GET", "/_matrix/client/versions")
        ),
        case!(
            versions_answers_head_like_get,
            section = "client-server-api/#get_matrixclientversions",
            op = ("GET", "/_matrix/client/versions")
        ),
        case!(
            well_known_client_names_an_http_base_url,
            section = "client-server-api/#getwell-knownmatrixclient",
            op = ("GET", "/.well-known/matrix/client")
        ),
        case!(
            well_known_server_names_a_server,
            section = "server-server-api/#getwell-knownmatrixserver",
            op = ("GET", "/.well-known/matrix/server")
        ),
    ]
}

/// Every advertised version has the `vX.Y` (or historical `rX.Y.Z`) form.
async fn versions_lists_spec_versions(ctx: Ctx) -> CaseResult {
    let response = ctx
        .op(Method::GET, "/_matrix/client/versions")
        .send()
        .await?
        .expect_status(200)?;
    let versions = response.json()?["versions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    ensure!(!versions.is_empty(), "no versions advertised");
    for version in &versions {
        let v = version.as_str().unwrap_or_default();
        let well_formed = is_version(v, 'v', 2) || is_version(v, 'r', 3);
        ensure!(well_formed, "version {v:?} is neither vX.Y nor rX.Y.Z");
    }
    Ok(())
}

fn is_version(v: &str, prefix: char, parts: usize) -> bool {
    v.strip_prefix(prefix).is_some_and(|rest| {
        let numbers: Vec<&str> = rest.split('.').collect();
        numbers.len() == parts
            && numbers
                .iter()
                .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// HEAD is answered like GET, without a body (HTTP semantics the spec relies on for GETs).
async fn versions_answers_head_like_get(ctx: Ctx) -> CaseResult {
    let response = ctx
        .raw(Method::HEAD, "/_matrix/client/versions")
        .send()
        .await?;
    ensure!(
        response.status == 200,
        "HEAD /versions answered {}",
        response.status
    );
    ensure!(
        response.body.is_empty(),
        "HEAD returned a body of {} bytes",
        response.body.len()
    );
    ctx.op(Method::GET, "/_matrix/client/versions")
        .send()
        .await?
        .expect_status(200)?;
    Ok(())
}

/// The documented 404 (nothing configured) passes; a 200 must name an http(s) base URL.
async fn well_known_client_names_an_http_base_url(ctx: Ctx) -> CaseResult {
    let response = ctx
        .op(Method::GET, "/.well-known/matrix/client")
        .send()
        .await?;
    if response.status == 404 {
        return Ok(());
    }
    let base_url = response.json()?["m.homeserver"]["base_url"]
        .as_str()
        .unwrap_or_default();
    ensure!(
        base_url.starts_with("http://") || base_url.starts_with("https://"),
        "m.homeserver.base_url {base_url:?} is not an http(s) URL"
    );
    Ok(())
}

/// A 200 names a server as `host[:port]`; a 404 means no delegation, which is allowed.
async fn well_known_server_names_a_server(ctx: Ctx) -> CaseResult {
    let response = ctx
        .op(Method::GET, "/.well-known/matrix/server")
        .send()
        .await?;
    if response.status == 404 {
        return Ok(());
    }
    let server = response.json()?["m.server"].as_str().unwrap_or_default();
    ensure!(
        !server.is_empty() && !server.contains('/'),
        "m.server {server:?} is not a server name"
    );
    Ok(())
}
