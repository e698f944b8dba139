//! Behaviour every endpoint shares: unknown endpoints, methods, CORS ("API standards" and
//! "Web Browser Clients" in the client-server spec).

use http::Method;

use crate::{
    case,
    case::{Case, CaseResult},
    client::Ctx,
    ensure, ensure_eq,
};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            unknown_endpoint_is_404_m_unrecognized,
            section = "client-server-api/#common-error-codes"
        ),
        case!(
            unknown_endpoint_with_body_is_404_m_unrecognized,
            section = "client-server-api/#common-error-codes"
        ),
        case!(
            known_path_with_wrong_method_is_405_m_unrecognized,
            section = "client-server-api/#common-error-codes"
        ),
        case!(
            cors_preflight_allows_browser_clients,
            section = "client-server-api/#web-browser-clients"
        ),
        case!(
            cors_headers_are_on_successful_responses,
            section = "client-server-api/#web-browser-clients"
        ),
        case!(
            cors_headers_are_on_error_responses,
            section = "client-server-api/#web-browser-clients"
        ),
    ]
}

async fn unknown_endpoint_is_404_m_unrecognized(ctx: Ctx) -> CaseResult {
    let response = ctx
        .raw(
            Method::GET,
            "/_matrix/client/v3/rechain_conformance_no_such_endpoint",
        )
        .send()
        .await?;
    ensure_eq!(response.status, 404, "status");
    ensure_eq!(response.errcode(), Some("M_UNRECOGNIZED"), "errcode");
    Ok(())
}

async fn unknown_endpoint_with_body_is_404_m_unrecognized(ctx: Ctx) -> CaseResult {
    let response = ctx
        .raw(
            Method::POST,
            "/_matrix/client/unstable/rechain.conformance/nothing",
        )
        .body("{not json", "application/json")
        .send()
        .await?;
    ensure_eq!(response.status, 404, "status");
    ensure_eq!(response.errcode(), Some("M_UNRECOGNIZED"), "errcode");
    Ok(())
}

/// The spec: 405 when "the endpoint is implemented, but the incorrect HTTP method is used".
async fn known_path_with_wrong_method_is_405_m_unrecognized(ctx: Ctx) -> CaseResult {
    let response = ctx
        .raw(Method::DELETE, "/_matrix/client/versions")
        .send()
        .await?;
    ensure_eq!(response.status, 405, "status");
    ensure_eq!(response.errcode(), Some("M_UNRECOGNIZED"), "errcode");
    Ok(())
}

fn check_cors(response: &crate::client::Response) -> CaseResult {
    ensure_eq!(
        response.header("access-control-allow-origin"),
        Some("*"),
        "Access-Control-Allow-Origin"
    );
    let methods = response
        .header("access-control-allow-methods")
        .unwrap_or_default()
        .to_uppercase();
    for method in ["GET", "POST", "PUT", "DELETE", "OPTIONS"] {
        ensure!(
            methods.split(',').any(|m| m.trim() == method),
            "Access-Control-Allow-Methods {methods:?} lacks {method}"
        );
    }
    let headers = response
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .to_lowercase();
    for header in ["x-requested-with", "content-type", "authorization"] {
        ensure!(
            headers.split(',').any(|h| h.trim() == header),
            "Access-Control-Allow-Headers {headers:?} lacks {header}"
        );
    }
    Ok(())
}

/// A browser's preflight for an authenticated JSON POST must be allowed.
async fn cors_preflight_allows_browser_clients(ctx: Ctx) -> CaseResult {
    let response = ctx
        .raw(Method::OPTIONS, "/_matrix/client/v3/createRoom")
        .header("Origin", "https://app.example")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type",
        )
        .send()
        .await?;
    ensure!(
        (200..300).contains(&response.status),
        "preflight answered {}",
        response.status
    );
    check_cors(&response)
}

async fn cors_headers_are_on_successful_responses(ctx: Ctx) -> CaseResult {
    let response = ctx
        .op(Method::GET, "/_matrix/client/versions")
        .header("Origin", "https://app.example")
        .send()
        .await?
        .expect_status(200)?;
    check_cors(&response)
}

async fn cors_headers_are_on_error_responses(ctx: Ctx) -> CaseResult {
    let response = ctx
        .raw(
            Method::GET,
            "/_matrix/client/v3/rechain_conformance_no_such_endpoint",
        )
        .header("Origin", "https://app.example")
        .send()
        .await?;
    ensure_eq!(response.status, 404, "status");
    check_cors(&response)
}
