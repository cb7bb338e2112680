{#- A continuous percentile (0 < fraction < 1) of a numeric expression, as an aggregate. -#}
{% macro percentile(expression, fraction) %}
  {{- return(adapter.dispatch('percentile', 'dataops_inventory')(expression, fraction)) -}}
{% endmacro %}

{% macro default__percentile(expression, fraction) %}
  percentile_cont({{ fraction }}) within group (order by {{ expression }})
{%- endmacro %}

{% macro duckdb__percentile(expression, fraction) %}
  quantile_cont({{ expression }}, {{ fraction }})
{%- endmacro %}

{#- failed / finished, NULL when nothing finished; inputs are counts. -#}
{% macro rate(numerator, denominator) %}
  case when {{ denominator }} > 0 then cast({{ numerator }} as {{ type_double() }}) / {{ denominator }} end
{%- endmacro %}

{#- A 64-bit float everywhere (dbt.type_float() is DuckDB's 32-bit FLOAT). -#}
{% macro type_double() %}double precision{% endmacro %}
