{#
  Reading the loaders' tables.

  dataops_source('projects') is the table's live rows, with its timestamps in UTC:
  - the loaders keep a row deleted at the source with _sdc_deleted_at set when hard_delete is off
    (and drop it when on, the default); rows with it set are left out where the column exists;
  - time-zone-aware timestamp columns become UTC without a time zone (see time.sql).
  Every other column passes through under its own name.

  dataops_table_exists('bridges') says whether an optional stream has been landed (bridges is
  not selected by default; older databases lack project_members_all and removed_projects), so
  a staging model can answer no rows instead of failing.
#}
{% macro dataops_source(table) %}
  {%- set relation = source('dataops', table) -%}
  {%- if not execute -%}
    {{- return(relation) -}}
  {%- endif -%}
  {%- set columns = dataops_columns(relation) -%}
  {%- if not columns -%}
    {{- return(relation) -}}
  {%- endif -%}
  {%- set names = columns | map(attribute='name') | map('lower') | list -%}
  (
    select
    {%- for column in columns %}
      {% if has_time_zone(column.data_type) -%}
        {{ to_utc(adapter.quote(column.name)) }} as {{ adapter.quote(column.name) }}
      {%- else -%}
        {{ adapter.quote(column.name) }}
      {%- endif -%}
      {{- "," if not loop.last }}
    {%- endfor %}
    from {{ relation }}
    {%- if '_sdc_deleted_at' in names %}
    where {{ adapter.quote(columns | selectattr('name', 'in', ['_sdc_deleted_at', '_SDC_DELETED_AT']) | map(attribute='name') | first) }} is null
    {%- endif %}
  )
{%- endmacro %}

{% macro dataops_table_exists(table) %}
  {%- set relation = source('dataops', table) -%}
  {%- if not execute -%}
    {{ return(true) }}
  {%- endif -%}
  {{ return(dataops_found(relation) is not none) }}
{% endmacro %}

{% macro dataops_found(relation) %}
  {{ return(adapter.get_relation(database=relation.database, schema=relation.schema,
                                 identifier=relation.identifier)) }}
{% endmacro %}

{#- The columns of a landed table; none when it has not been landed. -#}
{% macro dataops_columns(relation) %}
  {%- set found = dataops_found(relation) -%}
  {%- if found is none -%}
    {{ return([]) }}
  {%- endif -%}
  {{ return(adapter.get_columns_in_relation(found)) }}
{% endmacro %}

{#- A raw column whose name is a keyword somewhere (pipelines.user): quoted as the loader created it. -#}
{% macro raw_column(name) %}
  {{- return(adapter.dispatch('raw_column', 'dataops_inventory')(name)) -}}
{% endmacro %}

{% macro default__raw_column(name) %}{{ adapter.quote(name) }}{% endmacro %}

{% macro snowflake__raw_column(name) %}{{ adapter.quote(name | upper) }}{% endmacro %}
