//! The manifest's JSON Schema, generated from the raw manifest types.
//!
//! Draft-07, because that is what taplo and the Even Better TOML extension understand.

use schemars::Schema;
use schemars::generate::SchemaSettings;
use schemars::transform::{Transform, transform_subschemas};

use crate::manifest::raw::RawManifest;

/// TOML has no null: every optional key is simply absent, so null is removed from every type.
#[derive(Clone)]
struct NoNull;

impl Transform for NoNull {
    fn transform(&mut self, schema: &mut Schema) {
        if let Some(serde_json::Value::Array(types)) = schema.get_mut("type") {
            types.retain(|t| t != "null");
            if types.len() == 1 {
                let single = types[0].clone();
                schema.insert("type".into(), single);
            }
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(serde_json::Value::Array(variants)) = schema.get_mut(key) {
                variants.retain(|v| v.get("type").and_then(|t| t.as_str()) != Some("null"));
                if variants.len() == 1 {
                    let only = variants.remove(0);
                    schema.remove(key);
                    if let serde_json::Value::Object(map) = only {
                        for (k, v) in map {
                            schema.insert(k, v);
                        }
                    }
                }
            }
        }
        transform_subschemas(self, schema);
    }
}

/// The JSON Schema of a manifest, as a JSON value.
pub fn manifest_schema() -> serde_json::Value {
    let mut settings = SchemaSettings::draft07();
    settings.transforms.push(Box::new(NoNull));
    let mut schema = settings
        .into_generator()
        .into_root_schema_for::<RawManifest>();
    schema.insert(
        "$id".into(),
        "https://wf.dev/schemas/wf-manifest.schema.json".into(),
    );
    schema.insert("title".into(), "wf manifest (version 1)".into());
    schema.to_value()
}

/// The JSON Schema of a manifest, pretty-printed with a trailing newline.
pub fn manifest_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&manifest_schema()).unwrap_or_default();
    text.push('\n');
    text
}
