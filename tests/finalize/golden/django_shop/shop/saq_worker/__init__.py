"""SAQ workers of the project. Start one worker per queue:

    saq shop.saq_worker.queue_audit.settings
    saq shop.saq_worker.queue_default.settings
    saq shop.saq_worker.queue_feeds.settings
    saq shop.saq_worker.queue_mail.settings
    saq shop.saq_worker.queue_reports.settings

Written by saqmigrate finalize: this file is the project's own now.
"""

# Written by saqmigrate finalize
