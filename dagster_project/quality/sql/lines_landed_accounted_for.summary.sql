select
    count(*) as files,
    coalesce(sum(lines_landed), 0) as lines_landed,
    coalesce(sum(accepted), 0) as accepted,
    coalesce(sum(duplicates), 0) as duplicates,
    coalesce(sum(quarantined), 0) as quarantined
from marts.fct_landing_file_accounting
