-- Every route by which a user reaches a project, from the member lists the tap lands, with the
-- access level that route grants (GitLab's project_authorizations rules; see the yml):
--   direct     a project membership, or the owner of a personal project (Owner, 50);
--   inherited  a membership of the project's group or any of its ancestors;
--   shared     a direct member of a group invited into the project's group or an ancestor, or a
--              member of a group the project is shared with (or of that group's ancestors),
--              at the lower of the member's and the share's level; none while the project's
--              group has share_with_group_lock.
-- Minimal access (5) grants no project access and is left out.
with projects as (
    select project_id, namespace_id, namespace_kind, owner_user_id, owner_username, owner_name
    from {{ ref('stg_dataops__projects') }}
),

ancestors as (
    select * from {{ ref('int_namespace_ancestors') }}
),

group_members as (
    select * from {{ ref('stg_dataops__group_members') }}
    where access_level > 5
),

locked_groups as (
    select group_id from {{ ref('stg_dataops__groups') }} where share_with_group_lock
),

direct as (
    select
        members.project_id, members.user_id, members.username, members.user_name,
        'direct' as route, members.access_level, members.expires_at,
        cast(null as {{ dbt.type_bigint() }}) as via_group_id, 0 as distance
    from {{ ref('stg_dataops__project_members') }} as members
    where members.access_level > 5

    union all

    select
        project_id, owner_user_id, owner_username, owner_name,
        'direct', 50, cast(null as date), cast(null as {{ dbt.type_bigint() }}), 0
    from projects
    where namespace_kind = 'user' and owner_user_id is not null
),

inherited as (
    select
        projects.project_id, group_members.user_id, group_members.username, group_members.user_name,
        'inherited' as route, group_members.access_level, group_members.expires_at,
        ancestors.ancestor_id as via_group_id, ancestors.distance
    from projects
    inner join ancestors on ancestors.namespace_id = projects.namespace_id
    inner join group_members on group_members.group_id = ancestors.ancestor_id
    where projects.namespace_kind = 'group'
),

invited_into_ancestors as (
    select
        projects.project_id, group_members.user_id, group_members.username, group_members.user_name,
        'shared' as route, least(group_members.access_level, shares.group_access_level) as access_level,
        group_members.expires_at, shares.invited_group_id as via_group_id, ancestors.distance
    from projects
    inner join ancestors on ancestors.namespace_id = projects.namespace_id
    inner join {{ ref('stg_dataops__group_shares') }} as shares on shares.group_id = ancestors.ancestor_id
    inner join group_members on group_members.group_id = shares.invited_group_id
    where projects.namespace_kind = 'group'
),

project_share_groups as (
    -- the group a project is shared with, and that group's ancestors (their members reach it too)
    select shares.project_id, shares.group_id, shares.group_access_level, shares.group_id as member_group_id
    from {{ ref('stg_dataops__project_shares') }} as shares
    union all
    select shares.project_id, shares.group_id, shares.group_access_level, ancestors.ancestor_id
    from {{ ref('stg_dataops__project_shares') }} as shares
    inner join ancestors on ancestors.namespace_id = shares.group_id and ancestors.distance > 0
),

shared_with_project as (
    select
        share_groups.project_id, group_members.user_id, group_members.username, group_members.user_name,
        'shared' as route, least(group_members.access_level, share_groups.group_access_level) as access_level,
        group_members.expires_at, share_groups.group_id as via_group_id, 0 as distance
    from project_share_groups as share_groups
    inner join projects on projects.project_id = share_groups.project_id
    inner join group_members on group_members.group_id = share_groups.member_group_id
    where projects.namespace_id not in (select group_id from locked_groups)
),

routes as (
    select * from direct
    union all
    select * from inherited
    union all
    select * from invited_into_ancestors
    union all
    select * from shared_with_project
)

select
    routes.project_id,
    routes.user_id,
    routes.username,
    routes.user_name,
    routes.route,
    routes.access_level,
    routes.expires_at,
    routes.via_group_id,
    namespaces.namespace_path as via_group_path,
    routes.distance
from routes
left join {{ ref('int_namespaces') }} as namespaces on namespaces.namespace_id = routes.via_group_id
