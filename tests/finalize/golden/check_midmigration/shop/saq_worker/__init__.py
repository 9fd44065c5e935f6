"""SAQ workers of the project. Start one worker per queue:

    saq shop.saq_worker.queue_celery.settings

Written by saqmigrate finalize: this file is the project's own now.
"""

# Written by saqmigrate finalize
