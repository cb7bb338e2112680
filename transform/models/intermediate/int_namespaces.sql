-- Every namespace the sync knows of, once: groups (GET /groups), namespaces (GET /namespaces,
-- which adds the user's own), and the namespaces projects embed (which adds those of shared
-- projects). The richest record wins. members_listed: whether the group's direct member list was
-- landed (GitLab answers 403/404 for a private group the token's user is not in).
with candidates as (
    select
        group_id as namespace_id, group_name as namespace_name, group_path as namespace_path,
        'group' as namespace_kind, parent_id, visibility, true as in_groups, 1 as richness
    from {{ ref('stg_dataops__groups') }}
    union all
    select
        namespace_id, namespace_name, namespace_path, namespace_kind, parent_id,
        cast(null as {{ dbt.type_string() }}), false, 2
    from {{ ref('stg_dataops__namespaces') }}
    union all
    select
        namespace_id, cast(null as {{ dbt.type_string() }}), namespace_path, namespace_kind, namespace_parent_id,
        cast(null as {{ dbt.type_string() }}), false, 3
    from {{ ref('stg_dataops__projects') }}
    where namespace_id is not null
),

ranked as (
    select
        candidates.*,
        row_number() over (partition by namespace_id order by richness) as pick
    from candidates
),

listed as (
    select distinct group_id from {{ ref('stg_dataops__group_members') }}
)

select
    ranked.namespace_id,
    ranked.namespace_name,
    ranked.namespace_path,
    ranked.namespace_kind,
    ranked.parent_id,
    ranked.visibility,
    ranked.in_groups,
    listed.group_id is not null as members_listed
from ranked
left join listed on listed.group_id = ranked.namespace_id
where ranked.pick = 1
