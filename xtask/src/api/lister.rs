//! The walk over a crate's modules that lists its public items.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Result;
use quote::ToTokens;
use syn::{Attribute, Item, UseTree, Visibility};

use super::render::{render, render_fields, signature};
use super::{Module, cfg_attrs, load_modules, markers};

/// The listing of the crate rooted at `lib_rs`, whose name in paths is `crate_ident`: one
/// line per item, sorted.
pub fn list(lib_rs: &Path, crate_ident: &str) -> Result<Vec<String>> {
    let modules = load_modules(lib_rs)?;
    let mut lister = Lister {
        modules: &modules,
        impls: collect_impls(&modules),
        type_count: count_types(&modules),
        lines: BTreeSet::new(),
    };
    for (path, module) in &modules {
        if !module.public {
            continue;
        }
        let mut public_path = vec![crate_ident.to_owned()];
        public_path.extend(path.iter().cloned());
        for item in &module.items {
            lister.item(item, path, &public_path, &module.cfgs, 0);
        }
    }
    Ok(lister.lines.into_iter().collect())
}

/// An `impl` block and the module it is in.
struct ImplBlock<'a> {
    module: &'a [String],
    item: &'a syn::ItemImpl,
}

fn self_type_name(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}

fn collect_impls(modules: &BTreeMap<Vec<String>, Module>) -> BTreeMap<String, Vec<ImplBlock<'_>>> {
    let mut impls: BTreeMap<String, Vec<ImplBlock<'_>>> = BTreeMap::new();
    for (path, module) in modules {
        for item in &module.items {
            if let Item::Impl(block) = item
                && let Some(name) = self_type_name(&block.self_ty)
            {
                impls.entry(name).or_default().push(ImplBlock {
                    module: path,
                    item: block,
                });
            }
        }
    }
    impls
}

fn count_types(modules: &BTreeMap<Vec<String>, Module>) -> BTreeMap<String, usize> {
    let mut count = BTreeMap::new();
    for module in modules.values() {
        for item in &module.items {
            let name = match item {
                Item::Struct(s) => s.ident.to_string(),
                Item::Enum(e) => e.ident.to_string(),
                Item::Union(u) => u.ident.to_string(),
                Item::Trait(t) => t.ident.to_string(),
                _ => continue,
            };
            *count.entry(name).or_insert(0) += 1;
        }
    }
    count
}

struct Lister<'a> {
    modules: &'a BTreeMap<Vec<String>, Module>,
    impls: BTreeMap<String, Vec<ImplBlock<'a>>>,
    type_count: BTreeMap<String, usize>,
    lines: BTreeSet<String>,
}

fn is_pub(vis: &Visibility) -> bool {
    matches!(vis, Visibility::Public(_))
}

impl<'a> Lister<'a> {
    /// Lists `item`, declared in the module `module` (a crate path), at `at` (the public module
    /// path it is seen in). `depth` bounds re-export chains.
    fn item(
        &mut self,
        item: &Item,
        module: &[String],
        at: &[String],
        cfgs: &[String],
        depth: usize,
    ) {
        self.item_as(item, module, at, None, cfgs, depth, false);
    }

    #[allow(clippy::too_many_arguments)]
    fn item_as(
        &mut self,
        item: &Item,
        module: &[String],
        at: &[String],
        rename: Option<&str>,
        cfgs: &[String],
        depth: usize,
        reexported: bool,
    ) {
        let visible = |vis: &Visibility| reexported || is_pub(vis);
        let path = |ident: &syn::Ident| {
            let mut p = at.join("::");
            p.push_str("::");
            p.push_str(rename.unwrap_or(&ident.to_string()));
            p
        };
        match item {
            Item::Fn(f) if visible(&f.vis) => {
                let sig = signature(&f.sig, &path(&f.sig.ident));
                self.push(format!("{}pub {sig}", markers(&f.attrs, cfgs)));
            }
            Item::Const(c) if visible(&c.vis) => {
                let ty = render(c.ty.to_token_stream());
                self.push(format!(
                    "{}pub const {}: {ty}",
                    markers(&c.attrs, cfgs),
                    path(&c.ident)
                ));
            }
            Item::Static(s) if visible(&s.vis) => {
                let ty = render(s.ty.to_token_stream());
                self.push(format!(
                    "{}pub static {}: {ty}",
                    markers(&s.attrs, cfgs),
                    path(&s.ident)
                ));
            }
            Item::Type(t) if visible(&t.vis) => {
                let generics = render(t.generics.to_token_stream());
                let ty = render(t.ty.to_token_stream());
                self.push(format!(
                    "{}pub type {}{generics} = {ty}",
                    markers(&t.attrs, cfgs),
                    path(&t.ident)
                ));
            }
            Item::Struct(s) if visible(&s.vis) => {
                self.struct_item(s, module, &path(&s.ident), cfgs);
            }
            Item::Enum(e) if visible(&e.vis) => {
                let p = path(&e.ident);
                let marks = markers(&e.attrs, cfgs);
                let generics = render(e.generics.to_token_stream());
                self.push(format!("{marks}pub enum {p}{generics}"));
                for variant in &e.variants {
                    let fields = render_fields(&variant.fields);
                    self.push(format!(
                        "{}pub {p}::{}{fields}",
                        markers(&variant.attrs, cfgs),
                        variant.ident
                    ));
                }
                self.type_extras(&e.ident, &e.attrs, module, &p, cfgs);
            }
            Item::Union(u) if visible(&u.vis) => {
                let p = path(&u.ident);
                self.push(format!("{}pub union {p}", markers(&u.attrs, cfgs)));
                self.type_extras(&u.ident, &u.attrs, module, &p, cfgs);
            }
            Item::Trait(t) if visible(&t.vis) => self.trait_item(t, module, &path(&t.ident), cfgs),
            Item::Macro(m) if m.ident.is_some() => {
                let exported = m.attrs.iter().any(|a| a.path().is_ident("macro_export"));
                if exported || reexported {
                    let name = m
                        .ident
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default();
                    self.push(format!(
                        "{}macro {}::{name}!",
                        markers(&m.attrs, cfgs),
                        at[0]
                    ));
                }
            }
            Item::Mod(m) if reexported => {
                // A private module re-exported under another name: list its public items there.
                let mut target = module.to_vec();
                target.push(m.ident.to_string());
                let mut inner_at = at.to_vec();
                inner_at.push(rename.map_or_else(|| m.ident.to_string(), str::to_owned));
                self.module_contents(&target, &inner_at, cfgs, depth + 1);
            }
            Item::Use(u) if is_pub(&u.vis) => {
                let mut all_cfgs = cfgs.to_vec();
                all_cfgs.extend(cfg_attrs(&u.attrs));
                self.use_tree(&u.tree, Vec::new(), module, at, &all_cfgs, &u.attrs, depth);
            }
            _ => {}
        }
    }

    /// A public struct and its public fields.
    fn struct_item(&mut self, s: &syn::ItemStruct, module: &[String], p: &str, cfgs: &[String]) {
        let marks = markers(&s.attrs, cfgs);
        let generics = render(s.generics.to_token_stream());
        self.push(format!("{marks}pub struct {p}{generics}"));
        for (index, field) in s.fields.iter().enumerate() {
            if is_pub(&field.vis) {
                let name = field
                    .ident
                    .as_ref()
                    .map_or_else(|| index.to_string(), ToString::to_string);
                let ty = render(field.ty.to_token_stream());
                self.push(format!(
                    "{}pub {p}::{name}: {ty}",
                    markers(&field.attrs, cfgs)
                ));
            }
        }
        self.type_extras(&s.ident, &s.attrs, module, p, cfgs);
    }

    /// A public trait and its items.
    fn trait_item(&mut self, t: &syn::ItemTrait, module: &[String], p: &str, cfgs: &[String]) {
        let generics = render(t.generics.to_token_stream());
        let bounds = if t.supertraits.is_empty() {
            String::new()
        } else {
            format!(": {}", render(t.supertraits.to_token_stream()))
        };
        let unsafety = if t.unsafety.is_some() { "unsafe " } else { "" };
        self.push(format!(
            "{}pub {unsafety}trait {p}{generics}{bounds}",
            markers(&t.attrs, cfgs)
        ));
        for trait_item in &t.items {
            match trait_item {
                syn::TraitItem::Fn(f) => {
                    let provided = if f.default.is_some() {
                        " (provided)"
                    } else {
                        ""
                    };
                    let sig = signature(&f.sig, &format!("{p}::{}", f.sig.ident));
                    self.push(format!("{}{sig}{provided}", markers(&f.attrs, cfgs)));
                }
                syn::TraitItem::Type(ty) => {
                    let bounds = render(ty.bounds.to_token_stream());
                    self.push(format!(
                        "{}type {p}::{}: {bounds}",
                        markers(&ty.attrs, cfgs),
                        ty.ident
                    ));
                }
                syn::TraitItem::Const(c) => {
                    let ty = render(c.ty.to_token_stream());
                    self.push(format!(
                        "{}const {p}::{}: {ty}",
                        markers(&c.attrs, cfgs),
                        c.ident
                    ));
                }
                _ => {}
            }
        }
        self.type_extras(&t.ident, &t.attrs, module, p, cfgs);
    }

    /// Lists every public item of the crate module `target` as if it were at `at`.
    fn module_contents(&mut self, target: &[String], at: &[String], cfgs: &[String], depth: usize) {
        if depth > 8 {
            return;
        }
        let Some(module) = self.modules.get(target) else {
            return;
        };
        let mut all_cfgs = cfgs.to_vec();
        all_cfgs.extend(
            module
                .cfgs
                .iter()
                .skip(cfgs.len().min(module.cfgs.len()))
                .cloned(),
        );
        for item in &module.items {
            self.item_as(item, target, at, None, &all_cfgs, depth + 1, false);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn use_tree(
        &mut self,
        tree: &UseTree,
        mut prefix: Vec<String>,
        module: &[String],
        at: &[String],
        cfgs: &[String],
        attrs: &[Attribute],
        depth: usize,
    ) {
        match tree {
            UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(&p.tree, prefix, module, at, cfgs, attrs, depth);
            }
            UseTree::Group(g) => {
                for tree in &g.items {
                    self.use_tree(tree, prefix.clone(), module, at, cfgs, attrs, depth);
                }
            }
            UseTree::Name(n) => {
                let name = n.ident.to_string();
                self.reexport(&prefix, &name, &name, module, at, cfgs, attrs, depth);
            }
            UseTree::Rename(r) => {
                self.reexport(
                    &prefix,
                    &r.ident.to_string(),
                    &r.rename.to_string(),
                    module,
                    at,
                    cfgs,
                    attrs,
                    depth,
                );
            }
            UseTree::Glob(_) => match self.resolve_module(module, &prefix) {
                Some(target) if depth < 8 => self.module_contents(&target, at, cfgs, depth + 1),
                _ => {
                    let written = prefix.join("::");
                    self.push(format!(
                        "{}pub use {}::* (from {written}::*)",
                        markers(attrs, cfgs),
                        at.join("::")
                    ));
                }
            },
        }
    }

    /// The crate module a `use` path prefix names, seen from `module`, if it is one.
    fn resolve_module(&self, module: &[String], prefix: &[String]) -> Option<Vec<String>> {
        let mut current: Vec<String> = module.to_vec();
        let mut rest = prefix;
        match prefix.first().map(String::as_str) {
            Some("crate") => {
                current.clear();
                rest = &prefix[1..];
            }
            Some("self") => rest = &prefix[1..],
            Some("super") => {
                while rest.first().map(String::as_str) == Some("super") {
                    current.pop();
                    rest = &rest[1..];
                }
            }
            _ => {}
        }
        for segment in rest {
            current.push(segment.clone());
            if !self.modules.contains_key(&current) {
                return None;
            }
        }
        Some(current)
    }

    #[allow(clippy::too_many_arguments)]
    fn reexport(
        &mut self,
        prefix: &[String],
        name: &str,
        alias: &str,
        module: &[String],
        at: &[String],
        cfgs: &[String],
        attrs: &[Attribute],
        depth: usize,
    ) {
        let resolved = if prefix.is_empty() && name != "self" {
            // `pub use name;` names an item of this module (or an extern crate).
            Some(module.to_vec())
        } else {
            self.resolve_module(module, prefix)
        };
        if let Some(target) = resolved.filter(|_| depth < 8) {
            let items: Vec<&Item> = self
                .modules
                .get(&target)
                .map(|m| {
                    m.items
                        .iter()
                        .filter(|i| item_name(i).as_deref() == Some(name))
                        .collect()
                })
                .unwrap_or_default();
            // `pub use module::child;` or an item: list what it names.
            let mut child = target.clone();
            child.push(name.to_owned());
            if self.modules.contains_key(&child) && !items.is_empty() {
                let mut inner_at = at.to_vec();
                inner_at.push(alias.to_owned());
                self.module_contents(&child, &inner_at, cfgs, depth + 1);
                return;
            }
            if !items.is_empty() {
                let mut all_cfgs = cfgs.to_vec();
                all_cfgs.extend(
                    self.modules
                        .get(&target)
                        .map(|m| m.cfgs.clone())
                        .unwrap_or_default(),
                );
                all_cfgs.dedup();
                for item in items {
                    self.item_as(item, &target, at, Some(alias), &all_cfgs, depth + 1, true);
                }
                return;
            }
            // A re-export of a re-export: follow the `use` in the target module.
            let leaves: Vec<(Vec<String>, String)> = self
                .modules
                .get(&target)
                .map(|m| {
                    let mut found = Vec::new();
                    for item in &m.items {
                        if let Item::Use(u) = item {
                            use_leaves(&u.tree, Vec::new(), &mut found);
                        }
                    }
                    found
                })
                .unwrap_or_default()
                .into_iter()
                .filter(|(_, leaf_name, leaf_alias)| leaf_alias == name && leaf_name != "self")
                .map(|(prefix, leaf_name, _)| (prefix, leaf_name))
                .collect();
            if let Some((leaf_prefix, leaf_name)) = leaves.into_iter().next() {
                self.reexport(
                    &leaf_prefix,
                    &leaf_name,
                    alias,
                    &target,
                    at,
                    cfgs,
                    attrs,
                    depth + 1,
                );
                return;
            }
            if self.modules.contains_key(&target) && !prefix.is_empty() {
                let mut written = vec!["crate".to_owned()];
                written.extend(target.iter().cloned());
                written.push(name.to_owned());
                self.push(format!(
                    "{}pub use {}::{alias} (from {}, not found in the source: made by a macro)",
                    markers(attrs, cfgs),
                    at.join("::"),
                    written.join("::")
                ));
                return;
            }
        }
        let mut written = prefix.to_vec();
        written.push(name.to_owned());
        self.push(format!(
            "{}pub use {}::{alias} (from {})",
            markers(attrs, cfgs),
            at.join("::"),
            written.join("::")
        ));
    }

    /// Methods, trait impls and derives of the type `ident` declared in `module`, listed at `p`.
    fn type_extras(
        &mut self,
        ident: &syn::Ident,
        attrs: &[Attribute],
        module: &[String],
        p: &str,
        cfgs: &[String],
    ) {
        let name = ident.to_string();
        for attr in attrs.iter().filter(|a| a.path().is_ident("derive")) {
            if let Ok(list) = attr.parse_args_with(
                syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
            ) {
                for derived in list {
                    let derived = render(derived.to_token_stream());
                    self.push(format!(
                        "{}impl {derived} for {p} (derived)",
                        markers(&[], cfgs)
                    ));
                }
            }
        }
        let unique = self.type_count.get(&name).copied().unwrap_or(0) <= 1;
        let blocks: Vec<(Vec<String>, syn::ItemImpl)> = self
            .impls
            .get(&name)
            .into_iter()
            .flatten()
            .filter(|b| unique || b.module == module)
            .map(|b| (b.module.to_vec(), b.item.clone()))
            .collect();
        for (impl_module, block) in blocks {
            let mut impl_cfgs = cfgs.to_vec();
            if let Some(m) = self.modules.get(&impl_module) {
                for cfg in &m.cfgs {
                    if !impl_cfgs.contains(cfg) {
                        impl_cfgs.push(cfg.clone());
                    }
                }
            }
            let marks = markers(&block.attrs, &impl_cfgs);
            let generics = render(block.generics.params.to_token_stream());
            let generics = if generics.is_empty() {
                String::new()
            } else {
                format!("<{generics}>")
            };
            let self_ty = render(block.self_ty.to_token_stream());
            let shown_ty = match self_ty.find('<') {
                Some(at) => format!("{p}{}", &self_ty[at..]),
                None => p.to_owned(),
            };
            let where_clause = block
                .generics
                .where_clause
                .as_ref()
                .map(|w| format!(" {}", render(w.to_token_stream())))
                .unwrap_or_default();
            if let Some((negative, trait_path, _)) = &block.trait_ {
                let not = if negative.is_some() { "!" } else { "" };
                let trait_path = render(trait_path.to_token_stream());
                self.push(format!(
                    "{marks}impl{generics} {not}{trait_path} for {shown_ty}{where_clause}"
                ));
                continue;
            }
            for impl_item in &block.items {
                match impl_item {
                    syn::ImplItem::Fn(f) if is_pub(&f.vis) => {
                        let sig = signature(&f.sig, &format!("{p}::{}", f.sig.ident));
                        let mut fn_cfgs = impl_cfgs.clone();
                        fn_cfgs.extend(cfg_attrs(&block.attrs));
                        self.push(format!("{}pub {sig}", markers(&f.attrs, &fn_cfgs)));
                    }
                    syn::ImplItem::Const(c) if is_pub(&c.vis) => {
                        let ty = render(c.ty.to_token_stream());
                        self.push(format!(
                            "{}pub const {p}::{}: {ty}",
                            markers(&c.attrs, &impl_cfgs),
                            c.ident
                        ));
                    }
                    _ => {}
                }
            }
        }
    }

    fn push(&mut self, line: String) {
        // rustfmt's trailing commas in long signatures are not part of the API.
        let line = line.replace(",)", ")").replace(",>", ">");
        let line = line.trim_end_matches(',').to_owned();
        self.lines.insert(line);
    }
}

/// Every name a `use` tree brings in: (path prefix, name, alias).
fn use_leaves(
    tree: &UseTree,
    mut prefix: Vec<String>,
    out: &mut Vec<(Vec<String>, String, String)>,
) {
    match tree {
        UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            use_leaves(&p.tree, prefix, out);
        }
        UseTree::Group(g) => {
            for tree in &g.items {
                use_leaves(tree, prefix.clone(), out);
            }
        }
        UseTree::Name(n) => out.push((prefix, n.ident.to_string(), n.ident.to_string())),
        UseTree::Rename(r) => out.push((prefix, r.ident.to_string(), r.rename.to_string())),
        UseTree::Glob(_) => {}
    }
}

fn item_name(item: &Item) -> Option<String> {
    Some(match item {
        Item::Fn(f) => f.sig.ident.to_string(),
        Item::Const(c) => c.ident.to_string(),
        Item::Static(s) => s.ident.to_string(),
        Item::Type(t) => t.ident.to_string(),
        Item::Struct(s) => s.ident.to_string(),
        Item::Enum(e) => e.ident.to_string(),
        Item::Union(u) => u.ident.to_string(),
        Item::Trait(t) => t.ident.to_string(),
        Item::Mod(m) => m.ident.to_string(),
        Item::Macro(m) => m.ident.as_ref()?.to_string(),
        _ => return None,
    })
}
