# Packaging and deployment (issue 5). Included by the Makefile. See docs/DEPLOY.md.
#   make package STAGE=dev           build/dev/sam.json + build/dev/deployment.zip
#   make lint-cfn STAGE=dev          cfn-lint on that template
#   make deploy STAGE=dev SES_IDENTITY=example.com ALERT_SENDER=alerts@example.com \
#        DEPLOY_BUCKET=my-artifacts  needs AWS credentials
#   make admin STAGE=dev ADMIN_EMAIL=you@example.com   the first admin (prompts for the password)
STAGE ?= dev
STACK_NAME ?= automart-$(STAGE)
export AWS_DEFAULT_REGION ?= us-east-1
ALERT_RECIPIENTS ?=
ALARM_TOPIC_ARN ?=

.PHONY: package lint-cfn deploy admin

package: venv console
	$(BIN)/python -m infra.package --stage $(STAGE)

lint-cfn: package
	$(BIN)/cfn-lint build/$(STAGE)/sam.json

deploy: lint-cfn
	@test -n "$(DEPLOY_BUCKET)" || { echo "DEPLOY_BUCKET=<s3 bucket for the code> is required"; exit 2; }
	@test -n "$(SES_IDENTITY)" || { echo "SES_IDENTITY=<verified SES domain or address> is required"; exit 2; }
	@test -n "$(ALERT_SENDER)" || { echo "ALERT_SENDER=<from address> is required"; exit 2; }
	aws cloudformation package --template-file build/$(STAGE)/sam.json \
	  --s3-bucket $(DEPLOY_BUCKET) --s3-prefix automart/$(STAGE) \
	  --output-template-file build/$(STAGE)/packaged.yaml
	aws cloudformation deploy --template-file build/$(STAGE)/packaged.yaml \
	  --stack-name $(STACK_NAME) --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND \
	  --no-fail-on-empty-changeset \
	  --parameter-overrides SesIdentity=$(SES_IDENTITY) AlertSender=$(ALERT_SENDER) \
	    AlertRecipients="$(ALERT_RECIPIENTS)" AlarmTopicArn="$(ALARM_TOPIC_ARN)"
	aws cloudformation describe-stacks --stack-name $(STACK_NAME) \
	  --query "Stacks[0].Outputs[?OutputKey=='EndpointURL'].OutputValue" --output text

# The first admin of a deployed stage (asks for the password): the management command.
admin: venv
	@test -n "$(ADMIN_EMAIL)" || { echo "ADMIN_EMAIL=<address> is required"; exit 2; }
	$(BIN)/python -m infra.cli --stage $(STAGE) create-admin --email "$(ADMIN_EMAIL)"
