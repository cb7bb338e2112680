-- One row per (user, project): the highest access level the user has there, where it comes
-- from, and until when. access_level and expires_at are GitLab's own answer
-- (GET /projects/:id/members/all, the project_members_all stream); source is attributed from the
-- member lists, the group tree and the shares. The rules are in _marts__models.yml.
with answered as (
    select
        project_id, user_id, username, user_name, access_level, expires_at,
        'members_all' as access_basis
    from {{ ref('stg_dataops__project_members_all') }}
),

routes as (
    select * from {{ ref('int_project_access_routes') }}
),

route_order as (
    select
        routes.*,
        case route when 'direct' then 0 when 'inherited' then 1 else 2 end as precedence
    from routes
),

computed as (
    -- Projects without GitLab's answer (stream not landed, or the listing refused): the
    -- highest level over the routes; the expiry of the direct membership when there is one
    -- (GitLab prefers the project's own row), else of the route that grants the level.
    select
        project_id, user_id, username, user_name, best_level as access_level, expires_at,
        'member_lists' as access_basis
    from (
        select
            route_order.*,
            max(access_level) over (partition by project_id, user_id) as best_level,
            row_number() over (
                partition by project_id, user_id
                order by case when route = 'direct' then 0 else 1 end, access_level desc, precedence, distance
            ) as pick
        from route_order
        where project_id not in (select project_id from answered)
    ) as ranked
    where pick = 1
),

access as (
    select * from answered
    union all
    select * from computed
),

attributed as (
    -- The first route, in the order direct, inherited, shared, that grants the level shown;
    -- among inherited routes the nearest group.
    select
        access.project_id,
        access.user_id,
        route_order.route,
        route_order.via_group_id,
        route_order.via_group_path,
        row_number() over (
            partition by access.project_id, access.user_id
            order by route_order.precedence, route_order.distance, route_order.access_level desc,
                route_order.via_group_id
        ) as pick
    from access
    inner join route_order
        on route_order.project_id = access.project_id
        and route_order.user_id = access.user_id
        and route_order.access_level >= access.access_level
),

hidden_ancestry as (
    -- Projects in a group chain with a group whose member list was not landed (or is not known
    -- at all): an inherited route there cannot be seen, so it cannot be ruled out.
    select
        projects.project_id,
        max(case when namespaces.namespace_id is null or not namespaces.members_listed then 1 else 0 end)
            as has_hidden
    from {{ ref('stg_dataops__projects') }} as projects
    inner join {{ ref('int_namespace_ancestors') }} as ancestors on ancestors.namespace_id = projects.namespace_id
    left join {{ ref('int_namespaces') }} as namespaces on namespaces.namespace_id = ancestors.ancestor_id
    where projects.namespace_kind = 'group'
    group by projects.project_id
)

select
    access.project_id,
    access.user_id,
    access.username,
    access.user_name,
    access.access_level,
    {{ access_role('access.access_level') }} as access_role,
    coalesce(
        attributed.route,
        case when coalesce(hidden_ancestry.has_hidden, 0) = 1 then 'inherited' else 'shared' end
    ) as source,
    attributed.via_group_id as source_group_id,
    attributed.via_group_path as source_group_path,
    attributed.route is not null
        and (attributed.route <> 'shared' or coalesce(hidden_ancestry.has_hidden, 0) = 0) as source_proven,
    access.expires_at,
    access.access_basis,
    projects.project_path
from access
left join attributed
    on attributed.project_id = access.project_id and attributed.user_id = access.user_id and attributed.pick = 1
left join hidden_ancestry on hidden_ancestry.project_id = access.project_id
left join {{ ref('stg_dataops__projects') }} as projects on projects.project_id = access.project_id
