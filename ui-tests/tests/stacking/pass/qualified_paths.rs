// Attributes written with paths (`security_runtime::roles_required`) are stacked as well.
#![deny(warnings)]

#[security_runtime::auth_required(basic)]
#[security_runtime::roles_required("admin")]
#[rocket::delete("/items/<id>")]
pub fn delete_item(id: u64) -> String {
    id.to_string()
}

mod nested {
    use security_runtime as security;

    #[security::login_required]
    #[security::permissions_accepted("a", "b")]
    #[rocket::get("/nested")]
    pub(crate) fn nested() {}
}

fn main() {
    let _ = rocket::build().mount("/", rocket::routes![delete_item, nested::nested]);
    let requirement = ui_tests::requirement_of(module_path!(), "delete_item");
    assert_eq!(requirement.roles_required, ["admin"]);
    let nested = ui_tests::requirement_of(&format!("{}::nested", module_path!()), "nested");
    assert!(nested.auth.unwrap().login_required);
    assert_eq!(nested.permissions_accepted, ["a", "b"]);
}
