//! The OpenAPI document, generated from the handlers and types (utoipa) with the event schemas of
//! `schemas/` added as components, and a self-contained HTML page rendering it (no external assets).

use std::fmt::Write;
use std::sync::LazyLock;

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Map, Value};
use tickstream_model::EventKind;
use utoipa::openapi::schema::{ArrayBuilder, Schema};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{Modify, OpenApi};

use super::{admin, market, observe, problem, stream};
use crate::cache::{Channel, InstrumentRef, IntervalLatest, Latest};
use crate::keys::Scope;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tickstream API",
        description = "Real-time prices, bars, indicators and signals from tickstream's serving cache. \
            Event payloads are the `schemas/` messages (`trade.v1`, `quote.v1`, `bar.v1`, `indicator.v1`, \
            `signal.v1`). Authenticate with `Authorization: Bearer tsk_...` or `X-API-Key: tsk_...`."
    ),
    paths(
        observe::healthz, observe::readyz, observe::metrics,
        market::instruments, market::latest, market::bars, market::signals,
        stream::stream, admin::keys
    ),
    components(schemas(
        problem::ErrorBody, problem::ErrorDetail, observe::Status, market::Instruments, InstrumentRef, Latest,
        IntervalLatest, market::Bars, market::Signals, stream::StreamRequest, Channel, Scope, admin::KeyInfo,
        admin::Keys
    )),
    modifiers(&SecuritySchemes),
    tags(
        (name = "market", description = "Latest state, bars and signals (scope `read`)"),
        (name = "stream", description = "WebSocket pushes (scope `stream`)"),
        (name = "admin", description = "Key administration (scope `admin`)"),
        (name = "health", description = "Liveness, readiness and metrics (no key)")
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("tsk_...")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}

pub(crate) fn bar_list_schema() -> RefOr<Schema> {
    ArrayBuilder::new()
        .items(Ref::from_schema_name("bar.v1"))
        .into()
}

pub(crate) fn signal_list_schema() -> RefOr<Schema> {
    ArrayBuilder::new()
        .items(Ref::from_schema_name("signal.v1"))
        .into()
}

/// Points `#/$defs/X` references at `#/components/schemas/X`.
fn rebase_refs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get_mut("$ref")
                && let Some(name) = target.strip_prefix("#/$defs/")
            {
                *target = format!("#/components/schemas/{name}");
            }
            map.values_mut().for_each(rebase_refs);
        }
        Value::Array(items) => items.iter_mut().for_each(rebase_refs),
        _ => {}
    }
}

/// The OpenAPI 3.1 document as JSON.
pub fn openapi_document() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    let mut added = Map::new();
    for kind in [
        EventKind::Trade,
        EventKind::Quote,
        EventKind::Bar,
        EventKind::Indicator,
        EventKind::Signal,
    ] {
        let mut schema = tickstream_model::schema::event_schema(kind);
        if let Value::Object(root) = &mut schema {
            root.remove("$schema");
            root.remove("$id");
            if let Some(Value::Object(defs)) = root.remove("$defs") {
                added.extend(defs);
            }
        }
        added.insert(kind.schema().to_owned(), schema);
    }
    for schema in added.values_mut() {
        rebase_refs(schema);
    }
    if let Some(Value::Object(schemas)) = doc.pointer_mut("/components/schemas") {
        for (name, schema) in added {
            schemas.entry(name).or_insert(schema);
        }
    }
    doc
}

static DOCUMENT: LazyLock<String> = LazyLock::new(|| openapi_document().to_string());
static PAGE: LazyLock<String> = LazyLock::new(|| render_page(&openapi_document()));

/// The OpenAPI document.
pub(crate) async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
        .into_response()
}

/// The documentation page.
pub(crate) async fn page() -> Html<&'static str> {
    Html(PAGE.as_str())
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn render_page(doc: &Value) -> String {
    let info = &doc["info"];
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.4}}\
         code,pre{{background:#f4f4f4;padding:.1rem .3rem}}pre{{padding:1rem;overflow:auto}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}}\
         </style></head><body><h1>{title}</h1><p>{description}</p><p>The machine-readable document is at \
         <a href=\"/openapi.json\"><code>/openapi.json</code></a>.</p>",
        title = escape(text(info, "title")),
        description = escape(text(info, "description")),
    );
    if let Some(Value::Object(paths)) = doc.get("paths") {
        for (path, operations) in paths {
            let Value::Object(operations) = operations else {
                continue;
            };
            for (method, op) in operations {
                let _ = write!(
                    html,
                    "<h2><code>{} {}</code></h2><p>{}</p>",
                    escape(&method.to_uppercase()),
                    escape(path),
                    escape(&[text(op, "summary"), text(op, "description")].join(" ")),
                );
                if let Some(Value::Array(params)) = op.get("parameters") {
                    html.push_str(
                        "<table><tr><th>parameter</th><th>required</th><th>description</th></tr>",
                    );
                    for p in params {
                        let required = p.get("required").and_then(Value::as_bool).unwrap_or(false);
                        let _ = write!(
                            html,
                            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                            escape(text(p, "name")),
                            if required { "yes" } else { "no" },
                            escape(text(p, "description")),
                        );
                    }
                    html.push_str("</table>");
                }
                if let Some(Value::Object(responses)) = op.get("responses") {
                    let codes: Vec<&str> = responses.keys().map(String::as_str).collect();
                    let _ = write!(html, "<p>Responses: {}</p>", escape(&codes.join(", ")));
                }
            }
        }
    }
    let pretty = serde_json::to_string_pretty(doc).unwrap_or_default();
    let _ = write!(
        html,
        "<h2>OpenAPI document</h2><pre>{}</pre></body></html>",
        escape(&pretty)
    );
    html
}
