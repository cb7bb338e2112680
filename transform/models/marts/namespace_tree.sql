-- One row per namespace (group or personal): its path, depth, parent and top level, and the
-- projects directly in it and in its whole subtree.
with namespaces as (
    select * from {{ ref('int_namespaces') }}
),

ancestors as (
    select * from {{ ref('int_namespace_ancestors') }}
),

projects as (
    select * from {{ ref('stg_dataops__projects') }}
),

direct_projects as (
    select namespace_id, count(*) as projects
    from projects
    group by namespace_id
),

subtree_projects as (
    select
        ancestors.ancestor_id as namespace_id,
        count(*) as projects,
        sum(case when projects.archived then 1 else 0 end) as archived_projects,
        sum(projects.storage_size_bytes) as storage_size_bytes
    from projects
    inner join ancestors on ancestors.namespace_id = projects.namespace_id
    group by ancestors.ancestor_id
),

subgroups as (
    select parent_id as namespace_id, count(*) as subgroups
    from namespaces
    where parent_id is not null
    group by parent_id
),

top_level as (
    select namespace_path as top_level_path, namespace_id as top_level_namespace_id
    from namespaces
    where parent_id is null
)

select
    namespaces.namespace_id,
    namespaces.namespace_kind,
    namespaces.namespace_name,
    namespaces.namespace_path,
    namespaces.parent_id,
    {{ dbt.length('namespaces.namespace_path') }}
        - {{ dbt.length(dbt.replace('namespaces.namespace_path', "'/'", "''")) }} as depth,
    {{ dbt.split_part('namespaces.namespace_path', "'/'", 1) }} as top_level_path,
    top_level.top_level_namespace_id,
    namespaces.visibility,
    coalesce(subgroups.subgroups, 0) as subgroups,
    coalesce(direct_projects.projects, 0) as projects,
    coalesce(subtree_projects.projects, 0) as projects_in_subtree,
    coalesce(subtree_projects.archived_projects, 0) as archived_projects_in_subtree,
    subtree_projects.storage_size_bytes as storage_size_bytes_in_subtree
from namespaces
left join direct_projects on direct_projects.namespace_id = namespaces.namespace_id
left join subtree_projects on subtree_projects.namespace_id = namespaces.namespace_id
left join subgroups on subgroups.namespace_id = namespaces.namespace_id
left join top_level
    on top_level.top_level_path = {{ dbt.split_part('namespaces.namespace_path', "'/'", 1) }}
