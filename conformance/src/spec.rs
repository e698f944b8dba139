//! The spec's operations and response schemas, from the bundled OpenAPI documents in
//! `fixtures/matrix-spec/bundled` (compiled into the binary, so the runner needs no files).

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, OnceLock},
};

use serde_json::Value;

/// Which API an operation belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Api {
    ClientServer,
    ServerServer,
    ApplicationService,
}

impl Api {
    pub const ALL: [Api; 3] = [
        Api::ClientServer,
        Api::ServerServer,
        Api::ApplicationService,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Api::ClientServer => "Client-Server API",
            Api::ServerServer => "Server-Server API",
            Api::ApplicationService => "Application Service API",
        }
    }

    fn document(self) -> &'static str {
        match self {
            Api::ClientServer => {
                include_str!("../../fixtures/matrix-spec/bundled/client-server.json")
            }
            Api::ServerServer => {
                include_str!("../../fixtures/matrix-spec/bundled/server-server.json")
            }
            Api::ApplicationService => {
                include_str!("../../fixtures/matrix-spec/bundled/application-service.json")
            }
        }
    }
}

/// One documented operation: a method on a path template.
#[derive(Debug)]
pub struct Operation {
    pub api: Api,
    /// Upper-case HTTP method.
    pub method: String,
    /// The full path template, e.g. `/_matrix/client/v3/rooms/{roomId}/join`.
    pub path: String,
    pub operation_id: String,
    /// The spec's grouping (its OpenAPI tag, or a path-derived name where it has none).
    pub area: String,
    pub deprecated: bool,
    /// Documented status codes and, for JSON bodies, their schemas.
    responses: BTreeMap<u16, Option<Value>>,
    /// Compiled on first use.
    validators: Mutex<BTreeMap<u16, Arc<jsonschema::Validator>>>,
}

impl Operation {
    pub fn key(&self) -> (String, String) {
        (self.method.clone(), self.path.clone())
    }

    pub fn documented_statuses(&self) -> Vec<u16> {
        self.responses.keys().copied().collect()
    }

    /// A status the operation does not document. The spec's error section lets any endpoint
    /// answer with a standard error (`errcode` and `error`, "errors are generally best
    /// expressed by their error code rather than the HTTP status code"), and names the
    /// statuses that go with some codes: 404 for a missing resource (`M_NOT_FOUND`, or
    /// `M_UNRECOGNIZED` for an unknown endpoint), 405 `M_UNRECOGNIZED` for a wrong method,
    /// 413 `M_TOO_LARGE`. Operations rarely list them, so they pass here when they have that
    /// shape; `M_UNKNOWN` is allowed with any 4xx, as the spec describes it.
    fn check_undocumented(&self, status: u16, body: Option<&Value>) -> Vec<String> {
        // Operations whose description says they use user-interactive auth may answer 401
        // with the flows to complete instead of an error.
        if status == 401 && body.is_some_and(is_uia_challenge) {
            return Vec::new();
        }
        // `.well-known` files are RFC 8615 documents, often served statically; discovery
        // reads any non-200 as "nothing here", so a 404 needs no Matrix error body.
        if status == 404 && self.path.starts_with("/.well-known/") {
            return Vec::new();
        }
        let errcode = body.and_then(|b| b.get("errcode")).and_then(Value::as_str);
        let has_message = body
            .and_then(|b| b.get("error"))
            .is_some_and(Value::is_string);
        let allowed = match (status, errcode) {
            (_, None) => false,
            // A server error is never a conforming answer, whatever its errcode.
            (400..=499, Some("M_UNKNOWN")) => true,
            (404, Some(code)) => matches!(code, "M_NOT_FOUND" | "M_UNRECOGNIZED"),
            (405, Some(code)) => code == "M_UNRECOGNIZED",
            (413, Some(code)) => code == "M_TOO_LARGE",
            (400 | 401 | 403 | 429, Some(code)) => is_errcode(code),
            _ => false,
        };
        match (allowed, has_message) {
            (true, true) => Vec::new(),
            (true, false) => vec![format!(
                "{} {} {status}: an error response must carry an `error` string",
                self.method, self.path
            )],
            (false, _) => vec![format!(
                "{} {} {status} with errcode {errcode:?}: neither documented here nor a standard \
                 error for that status (documented: {:?})",
                self.method,
                self.path,
                self.documented_statuses()
            )],
        }
    }

    /// Checks a response against the documented statuses and, for JSON, the schema. Returns
    /// the problems found, each with the JSON pointer of the offending value.
    pub fn check_response(&self, status: u16, body: Option<&Value>) -> Vec<String> {
        let Some(schema) = self.responses.get(&status) else {
            return self.check_undocumented(status, body);
        };
        // A 401 documented as a user-interactive auth challenge may still be the common
        // token error every endpoint can give ("can be returned by any API endpoint").
        if status == 401
            && body.is_some_and(|b| {
                matches!(
                    b.get("errcode").and_then(Value::as_str),
                    Some("M_UNKNOWN_TOKEN" | "M_MISSING_TOKEN")
                ) && b.get("error").is_some_and(Value::is_string)
            })
        {
            return Vec::new();
        }
        let (Some(schema), Some(body)) = (schema, body) else {
            return Vec::new();
        };
        let validator = {
            let mut cache = self.validators.lock().expect("validator cache poisoned");
            if let Some(v) = cache.get(&status) {
                v.clone()
            } else {
                match jsonschema::draft202012::new(schema) {
                    Ok(v) => {
                        let v = Arc::new(v);
                        cache.insert(status, v.clone());
                        v
                    }
                    Err(e) => {
                        return vec![format!(
                            "the spec's schema for {} {} {status} does not compile: {e}",
                            self.method, self.path
                        )];
                    }
                }
            }
        };
        validator
            .iter_errors(body)
            .map(|e| {
                let pointer = e.instance_path().to_string();
                let pointer = if pointer.is_empty() {
                    "/".to_owned()
                } else {
                    pointer
                };
                format!(
                    "{} {} {status}: schema violation at {pointer}: {e}",
                    self.method, self.path
                )
            })
            .collect()
    }
}

/// Every operation of the three APIs a homeserver takes part in.
pub struct Spec {
    pub operations: Vec<Operation>,
    index: BTreeMap<(String, String), usize>,
}

impl Spec {
    /// The parsed spec, built once per process.
    pub fn get() -> &'static Spec {
        static SPEC: OnceLock<Spec> = OnceLock::new();
        SPEC.get_or_init(|| Spec::load().expect("bundled OpenAPI documents parse"))
    }

    fn load() -> Result<Spec, serde_json::Error> {
        let mut operations = Vec::new();
        for api in Api::ALL {
            let doc: Value = serde_json::from_str(api.document())?;
            let Some(paths) = doc["paths"].as_object() else {
                continue;
            };
            for (path, item) in paths {
                let Some(item) = item.as_object() else {
                    continue;
                };
                for (method, op) in item {
                    if !matches!(
                        method.as_str(),
                        "get" | "put" | "post" | "delete" | "patch" | "head"
                    ) {
                        continue;
                    }
                    operations.push(Operation {
                        api,
                        method: method.to_uppercase(),
                        path: path.clone(),
                        operation_id: op["operationId"].as_str().unwrap_or_default().to_owned(),
                        area: area_of(api, path, op),
                        deprecated: op["deprecated"].as_bool().unwrap_or(false),
                        responses: responses_of(op),
                        validators: Mutex::new(BTreeMap::new()),
                    });
                }
            }
        }
        operations.sort_by(|a, b| {
            (a.api, &a.area, &a.path, &a.method).cmp(&(b.api, &b.area, &b.path, &b.method))
        });
        let index = operations
            .iter()
            .enumerate()
            .map(|(i, op)| (op.key(), i))
            .collect();
        Ok(Spec { operations, index })
    }

    pub fn operation(&self, method: &str, path: &str) -> Option<&Operation> {
        self.index
            .get(&(method.to_owned(), path.to_owned()))
            .map(|&i| &self.operations[i])
    }
}

fn responses_of(op: &Value) -> BTreeMap<u16, Option<Value>> {
    let mut out = BTreeMap::new();
    if let Some(responses) = op["responses"].as_object() {
        for (status, response) in responses {
            let Ok(status) = status.parse::<u16>() else {
                continue;
            };
            let schema = response["content"]["application/json"]["schema"].clone();
            out.insert(status, (!schema.is_null()).then_some(schema));
        }
    }
    out
}

fn area_of(api: Api, path: &str, op: &Value) -> String {
    if let Some(tag) = op["tags"]
        .as_array()
        .and_then(|t| t.first())
        .and_then(Value::as_str)
    {
        return tag.to_owned();
    }
    if path.starts_with("/.well-known/") || path == "/_matrix/client/versions" {
        return "Server discovery".to_owned();
    }
    match api {
        Api::ApplicationService => "Application service".to_owned(),
        Api::ClientServer => "Other".to_owned(),
        Api::ServerServer => {
            // `/_matrix/federation/v1/make_join/{roomId}/{userId}` → `make_join`
            let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
            match segments.as_slice() {
                ["_matrix", "key", ..] => "Server keys".to_owned(),
                ["_matrix", "federation", _version, name, ..] => (*name).to_owned(),
                _ => "Other".to_owned(),
            }
        }
    }
}

/// The spec's errcode shape: `M_` and capitals for its own codes, or an upper-case
/// namespace, then `_` and the code (`COM.EXAMPLE_FORBIDDEN`).
pub fn is_errcode(code: &str) -> bool {
    let Some((namespace, name)) = code.split_once('_') else {
        return false;
    };
    let upper = |s: &str, extra: &[u8]| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || extra.contains(&b))
    };
    upper(namespace, b".") && upper(name, b"_")
}

/// The shape of a user-interactive auth response: `flows`, each a list of stage names.
fn is_uia_challenge(body: &Value) -> bool {
    body["flows"].as_array().is_some_and(|flows| {
        !flows.is_empty()
            && flows.iter().all(|flow| {
                flow["stages"]
                    .as_array()
                    .is_some_and(|stages| stages.iter().all(Value::is_string))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_spec_has_every_operation() {
        let spec = Spec::get();
        let count = |api| spec.operations.iter().filter(|o| o.api == api).count();
        assert_eq!(count(Api::ClientServer), 166);
        assert_eq!(count(Api::ServerServer), 36);
        assert_eq!(count(Api::ApplicationService), 9);
    }

    #[test]
    fn versions_schema_rejects_a_wrong_shape_with_its_pointer() {
        let op = Spec::get()
            .operation("GET", "/_matrix/client/versions")
            .unwrap();
        assert!(
            op.check_response(200, Some(&serde_json::json!({"versions": ["v1.19"]})))
                .is_empty()
        );
        let problems = op.check_response(200, Some(&serde_json::json!({"versions": [1]})));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("/versions/0"), "{problems:?}");
        let problems = op.check_response(500, None);
        assert!(problems[0].contains("neither documented"), "{problems:?}");
        let problems = op.check_response(404, None);
        assert!(problems[0].contains("neither documented"), "{problems:?}");
        let wrong_for_404 = serde_json::json!({"errcode": "M_FORBIDDEN", "error": "no"});
        assert!(!op.check_response(404, Some(&wrong_for_404)).is_empty());
        let unknown = serde_json::json!({"errcode": "M_UNKNOWN", "error": "no"});
        assert!(op.check_response(404, Some(&unknown)).is_empty());
        assert!(!op.check_response(500, Some(&unknown)).is_empty());
        let no_message = serde_json::json!({"errcode": "M_FORBIDDEN"});
        assert!(!op.check_response(403, Some(&no_message)).is_empty());
        let lower = serde_json::json!({"errcode": "m_forbidden", "error": "no"});
        assert!(!op.check_response(400, Some(&lower)).is_empty());
        let not_found = serde_json::json!({"errcode": "M_NOT_FOUND", "error": "no"});
        assert!(op.check_response(404, Some(&not_found)).is_empty());
        let forbidden = serde_json::json!({"errcode": "M_FORBIDDEN", "error": "no"});
        assert!(op.check_response(403, Some(&forbidden)).is_empty());
        assert!(
            !op.check_response(403, Some(&serde_json::json!({"oops": 1})))
                .is_empty()
        );
    }

    #[test]
    fn every_response_schema_compiles() {
        for op in &Spec::get().operations {
            for status in op.documented_statuses() {
                let problems = op.check_response(status, Some(&Value::Null));
                assert!(
                    problems.iter().all(|p| !p.contains("does not compile")),
                    "{problems:?}"
                );
            }
        }
    }

    #[test]
    fn errcodes_have_the_specs_shape() {
        for good in [
            "M_FORBIDDEN",
            "M_UNKNOWN",
            "COM.EXAMPLE.APP_MY_ERROR",
            "M_TOO_LARGE",
        ] {
            assert!(is_errcode(good), "{good}");
        }
        for bad in [
            "",
            "M_",
            "_FORBIDDEN",
            "FORBIDDEN",
            "m_forbidden",
            "M_FOR BIDDEN",
        ] {
            assert!(!is_errcode(bad), "{bad}");
        }
    }

    #[test]
    fn a_token_error_is_a_valid_401_where_a_challenge_is_documented() {
        let op = Spec::get()
            .operation("POST", "/_matrix/client/v3/register")
            .unwrap();
        let token = serde_json::json!({"errcode": "M_UNKNOWN_TOKEN", "error": "gone"});
        assert!(op.check_response(401, Some(&token)).is_empty());
        let other = serde_json::json!({"errcode": "M_FORBIDDEN", "error": "no"});
        assert!(!op.check_response(401, Some(&other)).is_empty());
    }

    #[test]
    fn a_well_known_404_needs_no_error_body() {
        let op = Spec::get()
            .operation("GET", "/.well-known/matrix/server")
            .unwrap();
        assert!(op.check_response(404, None).is_empty());
    }

    #[test]
    fn only_a_flows_list_counts_as_a_uia_challenge() {
        let op = Spec::get()
            .operation("POST", "/_matrix/client/v3/keys/device_signing/upload")
            .unwrap();
        let challenge =
            serde_json::json!({"flows": [{"stages": ["m.login.password"]}], "session": "s"});
        assert!(op.check_response(401, Some(&challenge)).is_empty());
        for bad in [
            serde_json::json!({"flows": []}),
            serde_json::json!({"flows": [{"stages": [1]}]}),
            serde_json::json!({"error": "no errcode"}),
        ] {
            assert!(!op.check_response(401, Some(&bad)).is_empty(), "{bad}");
        }
    }
}
