//! Reading a JSON-RPC body for [`McpToolScopes`](super::McpToolScopes): the names of the tools a single message or a batch calls with `tools/call`, borrowed from the body where it has no escapes.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The names of the tools `body` calls with `tools/call`, in order.
///
/// # Errors
/// Not JSON, or not shaped like JSON-RPC messages: a scalar instead of a
/// message, a `method` or tool `name` that is not a string, a duplicated
/// `method`, `params` or `name` (two readers could see different calls).
pub(super) fn called_tools(body: &[u8]) -> Result<Vec<Cow<'_, str>>, serde_json::Error> {
    let Messages(names) = serde_json::from_slice(body)?;
    Ok(names)
}

/// One message or a batch, reduced to the tools it calls.
struct Messages<'a>(Vec<Cow<'a, str>>);

impl<'de> Deserialize<'de> for Messages<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MessagesVisitor)
    }
}

struct MessagesVisitor;

impl<'de> Visitor<'de> for MessagesVisitor {
    type Value = Messages<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC message or batch")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let message = Message::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(Messages(message.called_tool().into_iter().collect()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut names = Vec::new();
        while let Some(message) = seq.next_element::<Message<'de>>()? {
            names.extend(message.called_tool());
        }
        Ok(Messages(names))
    }
}

/// The fields of a JSON-RPC message that matter here; the rest is skipped.
#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    method: Option<Text<'a>>,
    #[serde(borrow)]
    params: Option<Params<'a>>,
}

impl<'a> Message<'a> {
    /// The tool it calls, if it is a `tools/call` request naming one.
    fn called_tool(self) -> Option<Cow<'a, str>> {
        match self.method {
            Some(Text(method)) if method == "tools/call" => self.params?.name.map(|n| n.0),
            _ => None,
        }
    }
}

/// The `params` of a message: the `name` of an object; nothing of an array.
struct Params<'a> {
    name: Option<Text<'a>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Params<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ParamsVisitor(PhantomData))
    }
}

struct ParamsVisitor<'a>(PhantomData<Params<'a>>);

impl<'de: 'a, 'a> Visitor<'de> for ParamsVisitor<'a> {
    type Value = Params<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON-RPC params (an object or an array)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut name: Option<Option<Text<'a>>> = None;
        while let Some(Text(key)) = map.next_key::<Text<'a>>()? {
            if key == "name" {
                if name.is_some() {
                    return Err(de::Error::duplicate_field("name"));
                }
                name = Some(map.next_value()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Params {
            name: name.flatten(),
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Params { name: None })
    }
}

/// A JSON string, borrowed from the body unless it had escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TextVisitor(PhantomData))
    }
}

struct TextVisitor<'a>(PhantomData<Text<'a>>);

impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
    type Value = Text<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(v)))
    }
}

#[cfg(test)]
mod tests {
    use super::called_tools;

    fn tools(body: &str) -> Vec<String> {
        called_tools(body.as_bytes())
            .unwrap()
            .into_iter()
            .map(|n| n.into_owned())
            .collect()
    }

    #[test]
    fn reads_single_messages_and_batches() {
        let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"name":"x"},"name":"report"}}"#;
        assert_eq!(tools(call), ["report"]);
        let batch = format!(
            r#"[{{"jsonrpc":"2.0","method":"notifications/initialized"}},{call},{{"id":2,"result":{{}}}}]"#
        );
        assert_eq!(tools(&batch), ["report"]);
        assert!(tools(r#"{"method":"tools/list","params":{"name":"report"}}"#).is_empty());
        assert!(tools(r#"{"method":"tools/call","params":["report"]}"#).is_empty());
        assert!(tools("[]").is_empty());
    }

    #[test]
    fn decodes_escapes_like_any_json_reader() {
        let escaped = r#"{"m\u0065thod":"tools\/call","params":{"na\u006de":"rep\u006frt"}}"#;
        assert_eq!(tools(escaped), ["report"]);
    }

    #[test]
    fn refuses_what_two_readers_could_read_differently() {
        for body in [
            r#"{"method":"ping","method":"tools/call","params":{"name":"report"}}"#,
            r#"{"method":"tools/call","params":{"name":"a","name":"report"}}"#,
            r#"{"method":"tools/call","params":{"name":"report"}} trailing"#,
            r#"{"method":"tools/call","params":{"name":7}}"#,
            r#""tools/call""#,
            "not json",
        ] {
            assert!(called_tools(body.as_bytes()).is_err(), "{body}");
        }
    }
}
