//! Reading a user row on the lookup path: stored datetimes at fixed positions instead of
//! through format strings, and the user's roles from one compact JSON array.
//!
//! Every guard's cache miss decodes a user and its roles, so a user with 20 roles used to
//! pay 20 format-string parses (about 2,600 instructions each) on top of sqlx's own
//! SQLite datetime decoding (an RFC 3339 attempt and two format strings per column).

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

use crate::error::{Result, SecurityError};
use crate::model::{split_permissions, Role};

/// A datetime as the databases write it without a zone: `2026-12-06 08:00:00.123456`
/// (SQLite rows, SQLite and MariaDB JSON) or `2026-12-06T08:00:00.123456` (PostgreSQL
/// JSON), with up to nine digits of fraction or none. Fixed positions, read digit by
/// digit (chrono's item parser costs about 1,400 instructions here, this about 100);
/// `None` for anything else, a zone or trailing text included.
pub(super) fn naive_datetime(s: &str) -> Option<NaiveDateTime> {
    let b = s.as_bytes();
    let layout = b.len() >= 19
        && (b[4], b[7], b[13], b[16]) == (b'-', b'-', b':', b':')
        && matches!(b[10], b' ' | b'T');
    if !layout {
        return None;
    }
    let num = |digits: &[u8]| -> Option<u32> {
        digits.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let nanos = match &b[19..] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            num(digits)? * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let year = i32::try_from(num(&b[0..4])?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, num(&b[5..7])?, num(&b[8..10])?)?;
    let time =
        NaiveTime::from_hms_nano_opt(num(&b[11..13])?, num(&b[14..16])?, num(&b[17..19])?, nanos)?;
    Some(date.and_time(time))
}

/// A stored datetime column of a user row. On SQLite the text formats above are read
/// directly, anything else (a zone, a Julian day, a Unix time) as sqlx reads it; on the
/// other backends the column is a typed timestamp and sqlx's decoding is used as is.
pub(super) struct Stamp(pub(super) NaiveDateTime);

#[cfg(feature = "sqlite")]
mod sqlite {
    use sqlx::sqlite::{Sqlite, SqliteTypeInfo, SqliteValueRef};
    use sqlx::{Decode, Type, TypeInfo, ValueRef};

    use super::{naive_datetime, NaiveDateTime, Stamp};

    impl Type<Sqlite> for Stamp {
        fn type_info() -> SqliteTypeInfo {
            <NaiveDateTime as Type<Sqlite>>::type_info()
        }

        fn compatible(ty: &SqliteTypeInfo) -> bool {
            <NaiveDateTime as Type<Sqlite>>::compatible(ty)
        }
    }

    impl<'r> Decode<'r, Sqlite> for Stamp {
        fn decode(value: SqliteValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
            // The value's storage class (a DATETIME column may hold text, a number...).
            if value.type_info().name() != "TEXT" {
                return <NaiveDateTime as Decode<Sqlite>>::decode(value).map(Stamp);
            }
            // Decoding the text consumes the value; the row owns its values, so keeping
            // one more reference for the fallback is a counter increment.
            let kept = value.to_owned();
            let text = <&str as Decode<Sqlite>>::decode(value)?;
            if let Some(t) = naive_datetime(text) {
                return Ok(Stamp(t));
            }
            <NaiveDateTime as Decode<Sqlite>>::decode(sqlx::Value::as_ref(&kept)).map(Stamp)
        }
    }
}

/// The backends whose datetime columns are typed: sqlx's decoding as is.
macro_rules! typed_stamp {
    ($feature:literal, $db:ty) => {
        #[cfg(feature = $feature)]
        impl sqlx::Type<$db> for Stamp {
            fn type_info() -> <$db as sqlx::Database>::TypeInfo {
                <NaiveDateTime as sqlx::Type<$db>>::type_info()
            }

            fn compatible(ty: &<$db as sqlx::Database>::TypeInfo) -> bool {
                <NaiveDateTime as sqlx::Type<$db>>::compatible(ty)
            }
        }

        #[cfg(feature = $feature)]
        impl<'r> sqlx::Decode<'r, $db> for Stamp {
            fn decode(
                value: <$db as sqlx::Database>::ValueRef<'r>,
            ) -> std::result::Result<Self, sqlx::error::BoxDynError> {
                <NaiveDateTime as sqlx::Decode<$db>>::decode(value).map(Stamp)
            }
        }
    };
}

typed_stamp!("postgres", sqlx::Postgres);
typed_stamp!("mysql", sqlx::MySql);

/// One role of `roles_json`: `[id, name, description, permissions, update_datetime]`,
/// read by position: the order of `Dialect::roles_json`'s `json_array` arguments.
#[derive(serde::Deserialize)]
struct JsonRole<'a> {
    id: i32,
    name: String,
    description: Option<String>,
    permissions: Option<String>,
    /// Digits and separators: never escaped in JSON, so borrowed from the text.
    update_datetime: Option<&'a str>,
}

/// A role's `update_datetime`: the fixed layout, else what chrono's format string reads
/// (a leap second, more than nine digits of fraction, leading blanks: nothing the three
/// databases write, but text a hand-edited SQLite row may hold).
fn role_datetime(when: &str) -> Option<NaiveDateTime> {
    naive_datetime(when).or_else(|| {
        NaiveDateTime::parse_from_str(&when.replacen('T', " ", 1), "%Y-%m-%d %H:%M:%S%.f").ok()
    })
}

/// The roles of `roles_json`, by name; an error when the database wrote something else.
pub(super) fn roles_of_json(json: Option<&str>) -> Result<Vec<Role>> {
    let parsed: Vec<JsonRole<'_>> = match json {
        None => Vec::new(),
        Some(text) => serde_json::from_str(text)
            .map_err(|e| SecurityError::Invalid(format!("roles of a user: {e}")))?,
    };
    let mut roles = Vec::with_capacity(parsed.len());
    // A role without `update_datetime` is left out, as the joined query did.
    for r in parsed {
        let Some(when) = r.update_datetime else {
            continue;
        };
        let update_datetime = role_datetime(when)
            .ok_or_else(|| SecurityError::Invalid(format!("role update_datetime {when:?}")))?;
        roles.push(Role {
            id: r.id,
            name: r.name,
            description: r.description,
            permissions: split_permissions(r.permissions.as_deref()),
            update_datetime,
        });
    }
    roles.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(roles)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        let s = s.replacen('T', " ", 1);
        NaiveDateTime::parse_from_str(&s, "%Y-%m-%d %H:%M:%S%.f").unwrap()
    }

    #[test]
    fn datetimes_of_every_backend_are_read_and_nothing_else() {
        let want = at("2026-12-06 08:00:00.123456");
        assert_eq!(naive_datetime("2026-12-06 08:00:00.123456"), Some(want));
        assert_eq!(naive_datetime("2026-12-06T08:00:00.123456"), Some(want));
        assert_eq!(
            naive_datetime("2026-12-06 08:00:00.123456000"),
            Some(want),
            "nine digits, the most a NaiveDateTime keeps"
        );
        assert_eq!(
            naive_datetime("2026-12-06 08:00:00"),
            Some(at("2026-12-06 08:00:00.0"))
        );
        for other in [
            "yesterday",
            "2026-12-06",
            "2026-12-06 08:00",
            "2026-12-06 08:00:00+01:00",
            "2026-12-06 08:00:00Z",
            "2026-12-06x08:00:00",
            "2026-02-30 08:00:00",
            "2026-12-06 25:00:00",
            "2026-12-06 08:00:60",
            "2026-12-06 08:00:00.",
            "2026-12-06 08:00:00.1234567890",
            "2026-12-06 08:00:0x",
            "+026-12-06 08:00:00",
            "2026-12-06 08:00:00 ",
            "２０２６-12-06 08:00:00",
            "",
        ] {
            assert_eq!(naive_datetime(other), None, "{other:?}");
        }
    }

    #[test]
    fn the_fixed_layout_agrees_with_the_format_string_it_replaces() {
        let samples = [
            "1999-01-01 00:00:00",
            "2026-12-06 08:00:00.5",
            "2026-12-31 23:59:59.999999",
            "2024-02-29 12:34:56.000001",
            "0001-01-01 00:00:00",
            "2026-07-04T05:06:07.123456789",
            "2026-07-04T05:06:07.1234567",
        ];
        for s in samples {
            assert_eq!(naive_datetime(s), Some(at(s)), "{s}");
        }
    }

    #[test]
    fn roles_json_is_sorted_by_name_and_skips_undated_roles() {
        let json = r#"[[2,"b",null,"x,y","2026-12-06 08:00:00"],
            [1,"a","A",null,"2026-12-06T08:00:00.5"],
            [3,"c",null,null,null],
            [4,"d\"q","\u00e9","p\\,q","2026-12-06 08:00:00"]]"#;
        let roles = roles_of_json(Some(json)).unwrap();
        let names: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "d\"q"]);
        assert_eq!(roles[0].description.as_deref(), Some("A"));
        assert_eq!(roles[1].permissions, ["x", "y"]);
        assert_eq!(roles[2].description.as_deref(), Some("é"));
        assert_eq!(
            roles[2].permissions,
            ["p\\", "q"],
            "escaped text is unescaped"
        );
        assert!(roles_of_json(None).unwrap().is_empty());
        assert!(roles_of_json(Some("not json")).is_err());
        assert!(roles_of_json(Some(r#"[[1,"a",null,null,"soon"]]"#)).is_err());
        // What the fixed layout refuses and chrono read before is still read.
        let odd = r#"[[1,"a",null,null,"2026-12-31 23:59:60"],[2,"b",null,null," 2026-12-06 08:00:00.1234567891"]]"#;
        let roles = roles_of_json(Some(odd)).unwrap();
        assert_eq!(roles[0].update_datetime, at("2026-12-31 23:59:60"));
        assert_eq!(
            roles[1].update_datetime,
            at("2026-12-06 08:00:00.123456789")
        );
    }

    /// On SQLite a column the fixed layout refuses is read as sqlx reads it: a zone, a
    /// Unix time, a Julian day, minutes without seconds.
    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn sqlite_columns_in_other_formats_are_read_as_sqlx_reads_them() {
        use sqlx::sqlite::SqlitePoolOptions;
        let pool = SqlitePoolOptions::new()
            .connect("sqlite::memory:")
            .await
            .unwrap();
        let noon = at("2026-12-06 12:00:00");
        for (sql, want) in [
            (
                "SELECT '2026-12-06 12:00:00.25'",
                at("2026-12-06 12:00:00.25"),
            ),
            ("SELECT '2026-12-06T12:00:00'", noon),
            // sqlx keeps the wall time of a zoned text (`naive_local`).
            ("SELECT '2026-12-06 12:00:00+01:00'", noon),
            ("SELECT '2026-12-06 12:00:00Z'", noon),
            ("SELECT '2026-12-06 12:00'", noon),
            ("SELECT 1796558400", noon),
            ("SELECT 2461381.0", noon),
        ] {
            let (got,): (Stamp,) = sqlx::query_as(sql).fetch_one(&pool).await.unwrap();
            let plain: (NaiveDateTime,) = sqlx::query_as(sql).fetch_one(&pool).await.unwrap();
            assert_eq!(got.0, want, "{sql}");
            assert_eq!(got.0, plain.0, "{sql}: as sqlx reads it");
        }
        let bad = sqlx::query_as::<_, (Stamp,)>("SELECT 'soon'")
            .fetch_one(&pool)
            .await;
        assert!(bad.is_err());
    }
}
