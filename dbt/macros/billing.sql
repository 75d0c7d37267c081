{#- Money helpers for the billing models. Everything stays DECIMAL or integer: DuckDB turns a
    DECIMAL / DECIMAL division into DOUBLE, so no money expression here ever divides decimals. -#}

{#- An exact amount in minor units -> bigint, rounded ONCE, half up: half away from zero, so a
    credit (a negated amount) rounds like the debit it mirrors. Stripe rounds each invoice line
    to the currency's minor unit ("rounding occurs on the line item level", decimal amounts). -#}
{% macro round_half_up(expr) -%}
    cast(sign({{ expr }}) * floor(abs({{ expr }}) + 0.5) as bigint)
{%- endmacro %}

{#- Integer division (quotient rounded toward minus infinity for the non-negative operands used
    here), exact on every warehouse. -#}
{% macro int_div(a, b) -%}
    {{ return(adapter.dispatch('int_div', 'tollgate')(a, b)) }}
{%- endmacro %}
{% macro default__int_div(a, b) -%}
    (cast({{ a }} as hugeint) // cast({{ b }} as hugeint))
{%- endmacro %}
{% macro postgres__int_div(a, b) -%}
    div(cast({{ a }} as numeric), cast({{ b }} as numeric))
{%- endmacro %}

{#- round_half_up(numerator / denominator) exactly, for a DECIMAL(38, 12) numerator and a
    positive integer denominator: both are scaled to integers (x 10^12) and divided as integers:
    floor((2|n| + d) / 2d) is |n|/d rounded half up. Used for prorations and percentages. -#}
{% macro ratio_round_half_up(numerator, denominator) -%}
    cast(sign({{ numerator }}) * {{ tollgate.int_div(
        '2 * cast(abs(' ~ numerator ~ ') * 1000000000000 as decimal(38, 0)) + cast(' ~ denominator ~ ' as decimal(38, 0)) * 1000000000000',
        '2 * cast(' ~ denominator ~ ' as decimal(38, 0)) * 1000000000000'
    ) }} as bigint)
{%- endmacro %}

{#- Whole seconds from a to b (timestamps). -#}
{% macro seconds_between(a, b) -%}
    {{ return(adapter.dispatch('seconds_between', 'tollgate')(a, b)) }}
{%- endmacro %}
{% macro default__seconds_between(a, b) -%}
    date_diff('second', {{ a }}, {{ b }})
{%- endmacro %}
{% macro postgres__seconds_between(a, b) -%}
    cast(extract(epoch from ({{ b }} - {{ a }})) as bigint)
{%- endmacro %}

{#- Digits after the decimal point of a currency's major unit (Stripe's zero-decimal list, the
    three-decimal currencies, 2 otherwise). Amounts are always in minor units: this only says how
    to print them. -#}
{% macro currency_exponent(currency) -%}
    case
        when lower({{ currency }}) in (
            'bif', 'clp', 'djf', 'gnf', 'jpy', 'kmf', 'krw', 'mga', 'pyg', 'rwf', 'ugx', 'vnd',
            'vuv', 'xaf', 'xof', 'xpf'
        ) then 0
        when lower({{ currency }}) in ('bhd', 'jod', 'kwd', 'omr', 'tnd') then 3
        else 2
    end
{%- endmacro %}
