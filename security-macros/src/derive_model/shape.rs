//! The shape of a field's type, read from its spelling.
//!
//! A macro cannot resolve types, so the check is syntactic and errs on the side of
//! silence: a type it does not recognise (an alias, a newtype) is left to rustc, whose
//! type error then points at the same field because the conversion is spanned there.

use syn::{GenericArgument, PathArguments, Type};

/// A type as far as its spelling tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shape {
    String,
    Bool,
    I32,
    DateTime,
    Option(Box<Shape>),
    Vec(Box<Shape>),
    /// Any element type (the roles of a user: `RoleModel` or `String`).
    Any,
    /// A type recognised as something else (`i64`, `&str`, a tuple, ...).
    Other,
    /// A type the macro cannot judge (an alias, a newtype): rustc will.
    Unknown,
}

impl Shape {
    /// Reads the shape of `ty`.
    pub(crate) fn of(ty: &Type) -> Shape {
        match ty {
            Type::Group(group) => Shape::of(&group.elem),
            Type::Paren(paren) => Shape::of(&paren.elem),
            Type::Path(path) if path.qself.is_none() => {
                let Some(last) = path.path.segments.last() else {
                    return Shape::Unknown;
                };
                let only_arg = || match &last.arguments {
                    PathArguments::AngleBracketed(args) if args.args.len() == 1 => {
                        match args.args.first() {
                            Some(GenericArgument::Type(inner)) => Box::new(Shape::of(inner)),
                            _ => Box::new(Shape::Unknown),
                        }
                    }
                    _ => Box::new(Shape::Unknown),
                };
                match last.ident.to_string().as_str() {
                    "String" => Shape::String,
                    "bool" => Shape::Bool,
                    "i32" => Shape::I32,
                    "NaiveDateTime" => Shape::DateTime,
                    "Option" => Shape::Option(only_arg()),
                    "Vec" => Shape::Vec(only_arg()),
                    "str" | "char" | "i8" | "i16" | "i64" | "i128" | "isize" | "u8" | "u16"
                    | "u32" | "u64" | "u128" | "usize" | "f32" | "f64" | "DateTime"
                    | "NaiveDate" | "NaiveTime" => Shape::Other,
                    _ => Shape::Unknown,
                }
            }
            Type::Reference(_)
            | Type::Tuple(_)
            | Type::Array(_)
            | Type::Slice(_)
            | Type::Ptr(_)
            | Type::BareFn(_)
            | Type::Never(_) => Shape::Other,
            _ => Shape::Unknown,
        }
    }

    /// False only when `actual` is certainly not this (expected) shape.
    pub(crate) fn admits(&self, actual: &Shape) -> bool {
        match (self, actual) {
            (_, Shape::Unknown) | (Shape::Any, _) => true,
            (Shape::Option(expected), Shape::Option(actual))
            | (Shape::Vec(expected), Shape::Vec(actual)) => expected.admits(actual),
            (expected, actual) => expected == actual,
        }
    }

    /// The element type of a `Vec<T>` spelling, if `ty` is one.
    pub(crate) fn vec_element(ty: &Type) -> Option<&Type> {
        let Type::Path(path) = ty else { return None };
        let last = path.path.segments.last()?;
        if last.ident != "Vec" {
            return None;
        }
        match &last.arguments {
            PathArguments::AngleBracketed(args) => match args.args.first() {
                Some(GenericArgument::Type(inner)) => Some(inner),
                _ => None,
            },
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn shape(ty: Type) -> Shape {
        Shape::of(&ty)
    }

    #[test]
    fn reads_spellings() {
        assert_eq!(shape(parse_quote!(::std::string::String)), Shape::String);
        assert_eq!(
            shape(parse_quote!(core::option::Option<chrono::NaiveDateTime>)),
            Shape::Option(Box::new(Shape::DateTime))
        );
        assert_eq!(
            shape(parse_quote!(Vec<MyRole>)),
            Shape::Vec(Box::new(Shape::Unknown))
        );
        assert_eq!(shape(parse_quote!(&'static str)), Shape::Other);
        assert_eq!(shape(parse_quote!(Email)), Shape::Unknown);
    }

    #[test]
    fn admits() {
        let optional_string = Shape::Option(Box::new(Shape::String));
        assert!(optional_string.admits(&shape(parse_quote!(Option<String>))));
        assert!(optional_string.admits(&shape(parse_quote!(Option<Email>))));
        assert!(optional_string.admits(&shape(parse_quote!(Password))));
        assert!(!optional_string.admits(&shape(parse_quote!(String))));
        assert!(!Shape::I32.admits(&shape(parse_quote!(i64))));
        let roles = Shape::Vec(Box::new(Shape::Any));
        assert!(roles.admits(&shape(parse_quote!(Vec<String>))));
        assert!(!roles.admits(&shape(parse_quote!(Option<String>))));
    }
}
