-- The chart of accounts (seed chart_of_accounts), as finance reads it.
with accounts as (
    select * from {{ ref('chart_of_accounts') }}
),

final as (
    select
        cast(account as varchar) as account,
        cast(account_name as varchar) as account_name,
        cast(account_type as varchar) as account_type,
        cast(normal_side as varchar) as normal_side,
        cast(sub_account_kind as varchar) as sub_account_kind,
        cast(description as varchar) as description
    from accounts
)

select * from final
