//! The grpc-gateway JSON mapping (PROTOCOL.md §5.3): protobuf messages to JSON exactly as
//! grpc-gateway's default marshaler writes them, requests from JSON bodies and query strings,
//! and gRPC statuses as `{"code","message","details"}` bodies with the matching HTTP status.
// `tonic::Status` is large, but it is the error tonic's service traits return; boxing it
// here would only mean unboxing it again at every call site.
#![allow(clippy::result_large_err)]

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use http::StatusCode;
use prost::Message as _;
use prost_reflect::ReflectMessage as _;
use prost_reflect::{
    DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, Value,
};
use tonic::{Code, Status};

/// Looks up a message of the vendored protos by its full name.
pub fn message_descriptor(full_name: &str) -> Result<MessageDescriptor, Status> {
    proto::descriptor_pool()
        .get_message_by_name(full_name)
        .ok_or_else(|| Status::internal(format!("no descriptor for message {full_name}")))
}

/// Encodes a generated message as grpc-gateway JSON.
pub fn to_json<M: prost::Message>(message: &M, full_name: &str) -> Result<String, Status> {
    let desc = message_descriptor(full_name)?;
    let dynamic = DynamicMessage::decode(desc, message.encode_to_vec().as_slice())
        .map_err(|e| Status::internal(format!("re-decoding {full_name}: {e}")))?;
    let mut out = String::new();
    write_message(&mut out, &dynamic);
    Ok(out)
}

/// Decodes a request from a JSON body. An empty body is the empty message; unknown fields are
/// ignored; enums may be names or numbers; 64-bit integers strings or numbers.
pub fn from_body<M: prost::Message + Default>(body: &[u8], full_name: &str) -> Result<M, Status> {
    let desc = message_descriptor(full_name)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(M::default());
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let dynamic = DynamicMessage::deserialize_with_options(
        desc,
        &mut de,
        &DeserializeOptions::new().deny_unknown_fields(false),
    )
    .and_then(|m| de.end().map(|()| m))
    .map_err(|e| Status::invalid_argument(format!("invalid JSON request body: {e}")))?;
    transcode(&dynamic, full_name)
}

/// Decodes a request from URL query parameters, as grpc-gateway does for GET: names in
/// `snake_case` or `lowerCamelCase`, dotted paths into nested messages, a repeated field by
/// repeating the parameter, enums by name or number, bytes in standard or URL-safe base64,
/// timestamps in RFC 3339. Parameters naming no field are ignored.
pub fn from_query<M: prost::Message + Default>(
    query: Option<&str>,
    full_name: &str,
) -> Result<M, Status> {
    let desc = message_descriptor(full_name)?;
    let mut root = serde_json::Map::new();
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        set_path(&desc, &mut root, &key, &value)?;
    }
    let dynamic = DynamicMessage::deserialize_with_options(
        desc,
        serde_json::Value::Object(root),
        &DeserializeOptions::new().deny_unknown_fields(false),
    )
    .map_err(|e| Status::invalid_argument(format!("invalid query parameter: {e}")))?;
    transcode(&dynamic, full_name)
}

fn transcode<M: prost::Message + Default>(m: &DynamicMessage, name: &str) -> Result<M, Status> {
    M::decode(m.encode_to_vec().as_slice())
        .map_err(|e| Status::internal(format!("re-encoding {name}: {e}")))
}

fn set_path(
    desc: &MessageDescriptor,
    object: &mut serde_json::Map<String, serde_json::Value>,
    path: &str,
    value: &str,
) -> Result<(), Status> {
    let (head, rest) = match path.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    let Some(field) = desc
        .get_field_by_name(head)
        .or_else(|| desc.get_field_by_json_name(head))
    else {
        return Ok(());
    };
    let key = field.json_name().to_owned();
    match (rest, field.kind()) {
        (Some(rest), Kind::Message(inner)) if !field.is_list() && !field.is_map() => {
            let entry = object
                .entry(key)
                .or_insert_with(|| serde_json::Value::Object(Default::default()));
            match entry {
                serde_json::Value::Object(o) => set_path(&inner, o, rest, value),
                _ => Err(Status::invalid_argument(format!(
                    "query parameter {path:?}: {head} is given both as a value and as a message"
                ))),
            }
        }
        (Some(_), _) => Ok(()),
        (None, _) if field.is_map() => Err(Status::invalid_argument(format!(
            "query parameter {path:?}: map fields cannot be set from a query string"
        ))),
        (None, _) => {
            let v = scalar_from_query(&field, path, value)?;
            if field.is_list() {
                let entry = object
                    .entry(key)
                    .or_insert_with(|| serde_json::Value::Array(Vec::new()));
                if let serde_json::Value::Array(a) = entry {
                    a.push(v);
                }
            } else if object.insert(key, v).is_some() {
                return Err(Status::invalid_argument(format!(
                    "query parameter {path:?} is given more than once for a single field"
                )));
            }
            Ok(())
        }
    }
}

fn scalar_from_query(
    field: &FieldDescriptor,
    path: &str,
    value: &str,
) -> Result<serde_json::Value, Status> {
    use serde_json::Value as J;
    Ok(match field.kind() {
        Kind::Bool => match value {
            "true" => J::Bool(true),
            "false" => J::Bool(false),
            _ => {
                return Err(Status::invalid_argument(format!(
                    "query parameter {path:?}: {value:?} is not a bool (true or false)"
                )))
            }
        },
        Kind::Enum(_) => match value.parse::<i64>() {
            Ok(n) => J::Number(n.into()),
            Err(_) => J::String(value.to_owned()),
        },
        Kind::Double | Kind::Float => match value.parse::<f64>() {
            Ok(n) if n.is_finite() => serde_json::Number::from_f64(n)
                .map(J::Number)
                .unwrap_or_else(|| J::String(value.to_owned())),
            _ => J::String(value.to_owned()),
        },
        // A `+` of standard base64 arrives as a space after form decoding.
        Kind::Bytes => J::String(value.replace(' ', "+")),
        _ => J::String(value.to_owned()),
    })
}

/// Writes `message` as grpc-gateway does (protojson with `EmitUnpopulated`): fields in
/// declaration order; unset fields emitted with their zero value, except members of a oneof
/// (and proto3 `optional`), which appear only when set, and unset messages, which are `null`.
pub fn write_message(out: &mut String, message: &DynamicMessage) {
    let desc = message.descriptor();
    match desc.full_name() {
        "google.protobuf.Timestamp" => return write_timestamp(out, message),
        "google.protobuf.Duration" => return write_duration(out, message),
        _ => {}
    }
    out.push('{');
    let mut first = true;
    for raw in &desc.descriptor_proto().field {
        let Some(field) = desc.get_field(raw.number() as u32) else {
            continue;
        };
        let set = message.has_field(&field);
        if !set && field.containing_oneof().is_some() {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        write_string(out, field.json_name());
        out.push(':');
        if !set && !field.is_list() && !field.is_map() && field.kind().as_message().is_some() {
            out.push_str("null");
            continue;
        }
        write_value(out, &message.get_field(&field), &field);
    }
    out.push('}');
}

fn write_value(out: &mut String, value: &Value, field: &FieldDescriptor) {
    match value {
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_single(out, item, &field.kind());
            }
            out.push(']');
        }
        Value::Map(entries) => {
            let value_kind = match field.kind() {
                Kind::Message(entry) => entry.map_entry_value_field().kind(),
                other => other,
            };
            // protojson sorts map keys (numerically for integer keys).
            let mut sorted: Vec<(&MapKey, &Value)> = entries.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let key = match k {
                    MapKey::Bool(b) => b.to_string(),
                    MapKey::I32(n) => n.to_string(),
                    MapKey::I64(n) => n.to_string(),
                    MapKey::U32(n) => n.to_string(),
                    MapKey::U64(n) => n.to_string(),
                    MapKey::String(s) => s.clone(),
                };
                write_string(out, &key);
                out.push(':');
                write_single(out, v, &value_kind);
            }
            out.push('}');
        }
        other => write_single(out, other, &field.kind()),
    }
}

fn write_single(out: &mut String, value: &Value, kind: &Kind) {
    match value {
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::I32(n) => {
            let _ = write!(out, "{n}");
        }
        Value::U32(n) => {
            let _ = write!(out, "{n}");
        }
        Value::I64(n) => {
            let _ = write!(out, "\"{n}\"");
        }
        Value::U64(n) => {
            let _ = write!(out, "\"{n}\"");
        }
        Value::F32(f) => write_float(out, f64::from(*f)),
        Value::F64(f) => write_float(out, *f),
        Value::String(s) => write_string(out, s),
        Value::Bytes(b) => {
            out.push('"');
            out.push_str(&base64::engine::general_purpose::STANDARD.encode(b));
            out.push('"');
        }
        Value::EnumNumber(n) => match kind.as_enum().and_then(|e| e.get_value(*n)) {
            Some(v) => write_string(out, v.name()),
            None => {
                let _ = write!(out, "{n}");
            }
        },
        Value::Message(m) => write_message(out, m),
        // Lists and maps only occur as whole fields, handled by `write_value`.
        Value::List(_) | Value::Map(_) => out.push_str("null"),
    }
}

fn write_float(out: &mut String, f: f64) {
    if f.is_nan() {
        out.push_str("\"NaN\"");
    } else if f.is_infinite() {
        out.push_str(if f > 0.0 {
            "\"Infinity\""
        } else {
            "\"-Infinity\""
        });
    } else {
        out.push_str(
            &serde_json::Number::from_f64(f).map_or_else(|| "0".into(), |n| n.to_string()),
        );
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push_str(&serde_json::Value::String(s.to_owned()).to_string());
}

fn seconds_nanos(message: &DynamicMessage) -> (i64, i32) {
    let seconds = message
        .get_field_by_name("seconds")
        .and_then(|v| v.as_i64())
        .unwrap_or(0);
    let nanos = message
        .get_field_by_name("nanos")
        .and_then(|v| v.as_i32())
        .unwrap_or(0);
    (seconds, nanos)
}

/// Fractional seconds with 0, 3, 6 or 9 digits, as protojson writes them.
fn fraction(nanos: u32) -> String {
    if nanos == 0 {
        String::new()
    } else if nanos.is_multiple_of(1_000_000) {
        format!(".{:03}", nanos / 1_000_000)
    } else if nanos.is_multiple_of(1_000) {
        format!(".{:06}", nanos / 1_000)
    } else {
        format!(".{nanos:09}")
    }
}

fn write_timestamp(out: &mut String, message: &DynamicMessage) {
    let (seconds, nanos) = seconds_nanos(message);
    out.push('"');
    out.push_str(&rfc3339(seconds, nanos.clamp(0, 999_999_999) as u32));
    out.push('"');
}

fn write_duration(out: &mut String, message: &DynamicMessage) {
    let (seconds, nanos) = seconds_nanos(message);
    let negative = seconds < 0 || nanos < 0;
    let _ = write!(
        out,
        "\"{}{}{}s\"",
        if negative { "-" } else { "" },
        seconds.unsigned_abs(),
        fraction(nanos.unsigned_abs())
    );
}

/// `seconds`/`nanos` since the Unix epoch as RFC 3339 in UTC (`…Z`).
pub fn rfc3339(seconds: i64, nanos: u32) -> String {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        fraction(nanos)
    )
}

/// A `SystemTime` as a protobuf Timestamp.
pub fn timestamp(t: SystemTime) -> prost_types::Timestamp {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => prost_types::Timestamp {
            seconds: d.as_secs() as i64,
            nanos: d.subsec_nanos() as i32,
        },
        Err(e) => {
            let d = e.duration();
            let (mut seconds, mut nanos) = (-(d.as_secs() as i64), -(d.subsec_nanos() as i32));
            if nanos < 0 {
                seconds -= 1;
                nanos += 1_000_000_000;
            }
            prost_types::Timestamp { seconds, nanos }
        }
    }
}

/// A protobuf Timestamp as a `SystemTime`; `None` when its nanos are out of range.
pub fn system_time(t: &prost_types::Timestamp) -> Option<SystemTime> {
    let nanos = u32::try_from(t.nanos).ok().filter(|n| *n < 1_000_000_000)?;
    if t.seconds >= 0 {
        UNIX_EPOCH.checked_add(Duration::new(t.seconds as u64, nanos))
    } else {
        UNIX_EPOCH
            .checked_sub(Duration::from_secs(t.seconds.unsigned_abs()))?
            .checked_add(Duration::from_nanos(u64::from(nanos)))
    }
}

/// A `Duration` as a protobuf Duration.
pub fn duration(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    }
}

/// The HTTP status grpc-gateway answers for a gRPC code.
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// The grpc-gateway error body of a status: `{"code":…,"message":…,"details":[]}`.
pub fn error_body(code: Code, message: &str) -> String {
    let mut out = format!("{{\"code\":{},\"message\":", code as i32);
    write_string(&mut out, message);
    out.push_str(",\"details\":[]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::spacemesh::v2beta1 as v2;

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_689_321_600, 0), "2023-07-14T08:00:00Z");
        assert_eq!(rfc3339(951_782_400, 5_000_000), "2000-02-29T00:00:00.005Z");
        assert_eq!(rfc3339(-1, 1_000), "1969-12-31T23:59:59.000001Z");
        assert_eq!(
            rfc3339(253_402_300_799, 1),
            "9999-12-31T23:59:59.000000001Z"
        );
    }

    #[test]
    fn unset_messages_are_null_zero_values_are_emitted() {
        let json = to_json(
            &v2::PoetInfoResponse::default(),
            "spacemesh.v2beta1.PoetInfoResponse",
        )
        .unwrap();
        assert_eq!(json, r#"{"poets":[],"config":null}"#);
        let json = to_json(
            &v2::IdentityStateInfo::default(),
            "spacemesh.v2beta1.IdentityStateInfo",
        )
        .unwrap();
        assert_eq!(json, r#"{"smesher":"","state":"UNSPECIFIED","time":null}"#);
    }

    #[test]
    fn sixty_four_bit_integers_are_strings_and_unknown_enum_numbers_stay_numbers() {
        let req = v2::IdentityStatesRequest {
            states: vec![15, 99],
            smeshers: vec![vec![1]],
            from: Some(prost_types::Timestamp {
                seconds: 1,
                nanos: 20,
            }),
            to: None,
            limit: u64::MAX,
            order: 1,
        };
        assert_eq!(
            to_json(&req, "spacemesh.v2beta1.IdentityStatesRequest").unwrap(),
            r#"{"states":["ELIGIBLE",99],"smeshers":["AQ=="],"from":"1970-01-01T00:00:01.000000020Z","to":null,"limit":"18446744073709551615","order":"DESC"}"#
        );
        let back: v2::IdentityStatesRequest = from_body(
            br#"{"states":["ELIGIBLE",99],"smeshers":["AQ=="],"from":"1970-01-01T00:00:01.000000020Z","to":null,"limit":"18446744073709551615","order":"DESC"}"#,
            "spacemesh.v2beta1.IdentityStatesRequest",
        )
        .unwrap();
        assert_eq!(back, req);
    }

    #[test]
    fn query_strings_accept_names_numbers_and_both_name_styles() {
        let req: v2::IdentityStatesRequest = from_query(
            Some("states=ELIGIBLE&states=2&smeshers=AQ%3D%3D&smeshers=Ag==&limit=5&order=DESC&from=2024-01-02T03:04:05.5Z&unknown=1"),
            "spacemesh.v2beta1.IdentityStatesRequest",
        )
        .unwrap();
        assert_eq!(req.states, [15, 2]);
        assert_eq!(req.smeshers, [vec![1], vec![2]]);
        assert_eq!(req.limit, 5);
        assert_eq!(req.order, 1);
        assert_eq!(req.from.unwrap().nanos, 500_000_000);
        let bad = from_query::<v2::IdentityStatesRequest>(
            Some("limit=many"),
            "spacemesh.v2beta1.IdentityStatesRequest",
        )
        .unwrap_err();
        assert_eq!(bad.code(), Code::InvalidArgument);
    }

    #[test]
    fn bodies_ignore_unknown_fields_and_reject_garbage() {
        let req: v2::IdentityStatesRequest = from_body(
            br#"{"limit":"7","order":1,"extra":{"x":[1]}}"#,
            "spacemesh.v2beta1.IdentityStatesRequest",
        )
        .unwrap();
        assert_eq!((req.limit, req.order), (7, 1));
        for bad in [&b"{"[..], b"[]", b"{\"limit\":true}", b"{} x"] {
            let e = from_body::<v2::IdentityStatesRequest>(
                bad,
                "spacemesh.v2beta1.IdentityStatesRequest",
            )
            .unwrap_err();
            assert_eq!(e.code(), Code::InvalidArgument, "{:?}", bad);
        }
    }

    #[test]
    fn error_bodies_and_statuses() {
        assert_eq!(
            error_body(Code::NotFound, "Not \"Found\""),
            r#"{"code":5,"message":"Not \"Found\"","details":[]}"#
        );
        assert_eq!(
            http_status(Code::Unavailable),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(http_status(Code::InvalidArgument), StatusCode::BAD_REQUEST);
    }
}
