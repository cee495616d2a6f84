# Scoped lists page in id order straight off (org, object, owner|department, id); the shorter indexes they
# replace are prefixes of the new ones, so nothing else loses an index.
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("platform", "0002_approvals"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="customrecord", name="platform_rec_org_obj_owner"),
        migrations.RemoveIndex(model_name="customrecord", name="platform_rec_org_obj_dept"),
        migrations.AddIndex(
            model_name="customrecord",
            index=models.Index(fields=["org", "object", "owner_id", "id"], name="platform_rec_org_obj_owner_id"),
        ),
        migrations.AddIndex(
            model_name="customrecord",
            index=models.Index(fields=["org", "object", "department_id", "id"], name="platform_rec_org_obj_dept_id"),
        ),
    ]
