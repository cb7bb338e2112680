-- The namespace tree as a closure table: one row per (namespace, ancestor-or-self), with the
-- number of steps between them (0 for itself). Built from parent_id; an ancestor the sync does
-- not know (a private group above the token's reach) still appears once, at the top, by its id.
with recursive closure (namespace_id, ancestor_id, distance) as (
    select namespace_id, namespace_id, 0
    from {{ ref('int_namespaces') }}

    union all

    select closure.namespace_id, parents.parent_id, closure.distance + 1
    from closure
    inner join {{ ref('int_namespaces') }} as parents on parents.namespace_id = closure.ancestor_id
    where parents.parent_id is not null and closure.distance < 100
)

select namespace_id, ancestor_id, distance from closure
