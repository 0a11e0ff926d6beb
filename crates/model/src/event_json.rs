//! Reading an [`Event`] from its JSON: the variant is chosen by the `type` tag. When the tag comes first,
//! as tickstream writes it, the rest of the object is read straight into the variant; anywhere else, the
//! object is first gathered into a `serde_json::Value`. (serde's derived reader for internally tagged enums
//! always gathers, which costs an allocation per field.)

use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, Visitor};

use crate::{Bar, BookUpdate, Event, EventKind, FeedStatus, IndicatorValues, Quote, Signal, Trade};

/// The name of the tag field.
const TAG: &str = "type";

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Event, D::Error> {
        deserializer.deserialize_map(EventVisitor)
    }
}

/// Reads the variant `kind` from the rest of an object.
fn variant<'de, D: Deserializer<'de>>(kind: EventKind, rest: D) -> Result<Event, D::Error> {
    Ok(match kind {
        EventKind::Trade => Event::Trade(Trade::deserialize(rest)?),
        EventKind::Quote => Event::Quote(Quote::deserialize(rest)?),
        EventKind::Book => Event::Book(BookUpdate::deserialize(rest)?),
        EventKind::Status => Event::Status(FeedStatus::deserialize(rest)?),
        EventKind::Bar => Event::Bar(Bar::deserialize(rest)?),
        EventKind::Indicator => Event::Indicator(IndicatorValues::deserialize(rest)?),
        EventKind::Signal => Event::Signal(Signal::deserialize(rest)?),
    })
}

struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = Event;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event: an object with a `type` field")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Event, A::Error> {
        let Some(first) = map.next_key_seed(KeySeed)? else {
            return Err(A::Error::missing_field(TAG));
        };
        let first = match first {
            Key::Tag => {
                let kind: EventKind = map.next_value()?;
                return variant(kind, serde::de::value::MapAccessDeserializer::new(map));
            }
            Key::Other(name) => name,
        };
        let mut object = serde_json::Map::new();
        object.insert(first, map.next_value()?);
        let mut kind = None;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match key {
                Key::Tag => kind = Some(map.next_value::<EventKind>()?),
                Key::Other(name) => {
                    object.insert(name, map.next_value()?);
                }
            }
        }
        let kind = kind.ok_or_else(|| A::Error::missing_field(TAG))?;
        variant(kind, serde_json::Value::Object(object)).map_err(A::Error::custom)
    }
}

/// An object's key: the tag, or another field's name.
enum Key {
    Tag,
    Other(String),
}

/// Reads a key without allocating when it is the tag.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Key, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Key, E> {
        Ok(if name == TAG {
            Key::Tag
        } else {
            Key::Other(name.to_owned())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed example of a trade message, its `type` first.
    const TRADE: &str = include_str!("../../../schemas/examples/trade.v1.json");

    #[test]
    fn the_tag_may_come_anywhere() {
        let first: Event = serde_json::from_str(TRADE).unwrap();
        assert_eq!(first.kind(), EventKind::Trade);
        // A `Value` object prints its keys in order: `type` comes after `exchange`, `price`, ...
        let value: serde_json::Value = serde_json::from_str(TRADE).unwrap();
        let reordered = value.to_string();
        assert!(!reordered.starts_with(r#"{"type""#), "{reordered}");
        assert_eq!(serde_json::from_str::<Event>(&reordered).unwrap(), first);
        assert_eq!(Event::deserialize(value).unwrap(), first);
    }

    #[test]
    fn reads_back_what_it_writes() {
        let event: Event = serde_json::from_str(TRADE).unwrap();
        let text = serde_json::to_string(&event).unwrap();
        assert!(text.starts_with(r#"{"type":"trade""#), "{text}");
        assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), event);
    }

    #[test]
    fn names_what_is_wrong() {
        for (text, expected) in [
            (r#"{"exchange":"kraken"}"#, "missing field `type`"),
            ("{}", "missing field `type`"),
            (r#"{"type":"candle"}"#, "unknown variant `candle`"),
            (r#"{"type":"trade","exchange":"kraken"}"#, "missing field"),
            (r#"{"exchange":"kraken","type":"trade"}"#, "missing field"),
            ("[1]", "an event"),
        ] {
            let error = serde_json::from_str::<Event>(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }
}
